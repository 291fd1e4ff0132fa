"""A group's catalog of resources as people and agents curate it: the resource routes, their service
(search, bulk create, get with users, bulk delete), who uses each resource, and the flags every new group
starts with.

It sits above the engine (a resource's users are artifacts and drafts) and the kinds (the starter flags
are theirs); `resources` below holds only the resource kinds and their values, which the engine builds on.
"""
