"""Sanitising untrusted SVG icons.

SVG is a document format, not an image format: it can carry scripts, event
handlers, links, embedded HTML, external references and CSS.  Filtering the
dangerous parts out of the original tree (a denylist) misses every trick
nobody thought of yet, so this module works the other way round:

1. Parse the markup with defusedxml, refusing DTDs, entity declarations and
   external references outright (billion laughs, XXE, entity-spelled URLs).
2. Walk the parsed tree and build a *new* tree that only contains elements
   and attributes from fixed allowlists.  Anything unknown is simply never
   copied: disallowed elements vanish together with their subtree, comments
   and processing instructions are never carried over.
3. Attribute values that can reference something (``href``, ``url(...)``)
   are only kept when they point at a fragment inside the same document.
4. Serialise the new tree with xml.etree, which escapes all text and
   attribute values, so the output is always well-formed and re-sanitising
   it yields exactly the same string.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as DefusedET
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

__all__ = ["MAX_SVG_BYTES", "SvgRejected", "sanitize_svg"]

MAX_SVG_BYTES = 64 * 1024

# Icons nest a handful of levels; a hard cap keeps the recursive rebuild and
# the serializer far away from Python's recursion limit.
MAX_DEPTH = 100

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

ALLOWED_ELEMENTS = frozenset(
    {
        "svg",
        "g",
        "path",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "rect",
        "text",
        "tspan",
        "title",
        "desc",
        "defs",
        "symbol",
        "use",
        "linearGradient",
        "radialGradient",
        "stop",
        "clipPath",
        "mask",
        "pattern",
        "marker",
    }
)

# Elements whose character data is meaningful; everywhere else text is only
# formatting whitespace (or smuggled script) and is dropped.
TEXT_ELEMENTS = frozenset({"text", "tspan", "title", "desc"})

# Elements whose children's tails are part of the rendered text flow.
TEXT_FLOW_ELEMENTS = frozenset({"text", "tspan"})

# Elements that legitimately reference another element by href.
HREF_ELEMENTS = frozenset({"use", "linearGradient", "radialGradient", "pattern"})

# Properties that may also appear inside a style="" attribute.
PRESENTATION_PROPERTIES = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-opacity",
        "opacity",
        "clip-path",
        "clip-rule",
        "mask",
        "stop-color",
        "stop-opacity",
        "font-family",
        "font-size",
        "font-weight",
        "font-style",
        "text-anchor",
        "dominant-baseline",
        "letter-spacing",
        "visibility",
        "display",
        "color",
        "vector-effect",
        "shape-rendering",
        "transform",
        "marker-start",
        "marker-mid",
        "marker-end",
    }
)

ALLOWED_ATTRIBUTES = PRESENTATION_PROPERTIES | frozenset(
    {
        "id",
        "class",
        "viewBox",
        "width",
        "height",
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "d",
        "points",
        "offset",
        "gradientUnits",
        "gradientTransform",
        "spreadMethod",
        "fx",
        "fy",
        "fr",
        "patternUnits",
        "patternContentUnits",
        "patternTransform",
        "markerWidth",
        "markerHeight",
        "refX",
        "refY",
        "orient",
        "markerUnits",
        "preserveAspectRatio",
        "dx",
        "dy",
        "role",
        "aria-label",
        "aria-hidden",
        "focusable",
        "version",
        "style",
    }
)

_LOCAL_FRAGMENT = re.compile(r"#[A-Za-z_][\w.-]*")
_URL_OPEN = re.compile(r"url\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"""url\((['"]?)#[A-Za-z_][\w.-]*\1\)""", re.IGNORECASE)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")

# Checked on the lowercased value with all whitespace removed, so that
# "java\tscript:" or "expression (" cannot slip through.  Besides url(), CSS
# has a few other functions that fetch resources; none is needed in an icon.
_DANGEROUS_MARKERS = (
    "javascript:",
    "data:",
    "vbscript:",
    "expression(",
    "image(",
    "image-set(",
    "src(",
    "element(",
    "cross-fade(",
)

# Characters that have no business in an inline declaration: escapes,
# at-rules, blocks and markup could all break out of the single value.
_STYLE_FORBIDDEN_CHARS = frozenset("\\@<>{}")


class SvgRejected(ValueError):
    """Markup that cannot be accepted as an icon.

    str(exc) is a short human reason, e.g. 'is not SVG markup' or
    'is larger than 64 KiB'.
    """


def sanitize_svg(markup: str) -> str:
    """Parse untrusted SVG markup safely and rebuild it from an allowlist.

    Returns clean markup starting with '<svg xmlns="http://www.w3.org/2000/svg"'.
    Raises SvgRejected when the input is not a non-empty string, is larger
    than MAX_SVG_BYTES as UTF-8, is not well-formed XML, contains a DTD or
    entity declarations, or does not have <svg> as its root element.
    """
    source = _parse(markup)
    try:
        clean = _rebuild(source, depth=0)
    except RecursionError:  # only reachable if MAX_DEPTH is raised carelessly
        raise SvgRejected("is nested too deeply") from None
    if clean is None:  # _parse let only an <svg> root through, and <svg> is always kept
        raise SvgRejected("is not SVG markup")
    # The rebuilt tree uses unqualified tag names plus an explicit xmlns
    # attribute: this yields a default-namespace document without touching
    # ElementTree's process-wide prefix registry.
    clean.attrib = {"xmlns": SVG_NS, **clean.attrib}
    return ET.tostring(clean, encoding="unicode")


def _parse(markup: str) -> ET.Element:
    """Check size and type, then parse with every XML expansion feature off."""
    if not isinstance(markup, str):
        raise SvgRejected("is not text")
    if not markup.strip():
        raise SvgRejected("is empty")
    try:
        size = len(markup.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates cannot be valid XML anyway
        raise SvgRejected("is not valid Unicode text") from None
    if size > MAX_SVG_BYTES:
        raise SvgRejected("is larger than 64 KiB")
    try:
        root: ET.Element = DefusedET.fromstring(markup, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise SvgRejected("contains a document type declaration") from None
    except EntitiesForbidden:
        raise SvgRejected("declares XML entities") from None
    except ExternalReferenceForbidden:
        raise SvgRejected("references external resources") from None
    except ET.ParseError:
        raise SvgRejected("is not well-formed XML") from None
    except (ValueError, RecursionError):  # e.g. unsupported encoding declarations
        raise SvgRejected("could not be parsed as XML") from None
    if _svg_local_name(root.tag) != "svg":
        raise SvgRejected("is not SVG markup")
    return root


def _svg_local_name(tag: object) -> str | None:
    """Local name of an SVG (or un-namespaced) element, else None.

    Elements from any other namespace (XHTML, XInclude, MathML, editor
    metadata, ...) get None, which no allowlist contains.
    """
    if not isinstance(tag, str):  # comments / PIs, should the parser keep them
        return None
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return local if namespace == SVG_NS else None
    return tag


def _rebuild(source: ET.Element, depth: int) -> ET.Element | None:
    """Copy one allowed element (and its allowed descendants) into a new tree."""
    name = _svg_local_name(source.tag)
    if name not in ALLOWED_ELEMENTS:
        return None  # drops the whole subtree: nothing below is ever looked at
    if depth > MAX_DEPTH:
        raise SvgRejected("is nested too deeply")
    clean = ET.Element(name, _clean_attributes(name, source.attrib))
    if name in TEXT_ELEMENTS:
        clean.text = _clean_text(source.text)
    for child in source:
        clean_child = _rebuild(child, depth + 1)
        if clean_child is None:
            continue
        if name in TEXT_FLOW_ELEMENTS:
            clean_child.tail = _clean_text(child.tail)
        clean.append(clean_child)
    return clean


def _clean_text(text: str | None) -> str | None:
    """Normalise line ends; a bare CR would be serialised raw and then turned
    into LF by the next parse, breaking idempotence."""
    if text is None:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean_attributes(element: str, attrib: dict[str, str]) -> dict[str, str]:
    """Keep allowlisted attributes whose values reference nothing external."""
    clean: dict[str, str] = {}
    for key, value in attrib.items():
        if key in ("href", XLINK_HREF):
            href = _clean_href(element, value)
            if href is not None and "href" not in clean:  # first valid one wins
                clean["href"] = href
            continue
        # The allowlist has no namespaced names and no event handlers; the
        # explicit checks keep it that way should someone extend the list.
        if key.startswith("{") or key.lower().startswith("on"):
            continue
        if key not in ALLOWED_ATTRIBUTES:
            continue
        cleaned = _clean_style(value) if key == "style" else _safe_value(value)
        if cleaned is not None:
            clean[key] = cleaned
    return clean


def _clean_href(element: str, value: str) -> str | None:
    """Only same-document fragments on elements that need a reference.

    Everything else (javascript:, data:, http:, other.svg#x) could load or
    run something, so it is dropped rather than rewritten.
    """
    if element not in HREF_ELEMENTS:
        return None
    candidate = value.strip()
    return candidate if _LOCAL_FRAGMENT.fullmatch(candidate) else None


def _safe_value(value: str) -> str | None:
    """Return value unchanged if it is harmless, else None."""
    # Attribute values are parsed as CSS values, where a backslash escape can
    # spell "url(" or "expression(" past the substring checks below.
    if "\\" in value:
        return None
    compact = _SPACE_OR_CONTROL.sub("", value)
    lowered = compact.lower()
    if any(marker in lowered for marker in _DANGEROUS_MARKERS):
        return None
    # Every url(...) must be a local fragment; one bad url poisons the value.
    for match in _URL_OPEN.finditer(compact):
        if not _LOCAL_URL.match(compact, match.start()):
            return None
    return value


def _clean_style(value: str) -> str | None:
    """Rebuild a style attribute from allowed presentation declarations."""
    kept = []
    for declaration in value.split(";"):
        prop, colon, prop_value = declaration.partition(":")
        prop, prop_value = prop.strip().lower(), prop_value.strip()
        if not colon or prop not in PRESENTATION_PROPERTIES:
            continue
        if _safe_style_value(prop_value):
            kept.append(f"{prop}:{prop_value}")
    return ";".join(kept) or None


def _safe_style_value(value: str) -> bool:
    """A single CSS value that cannot escape its declaration."""
    if not value or any(char in _STYLE_FORBIDDEN_CHARS for char in value):
        return False
    # Comments could hide tokens; an unbalanced quote (e.g. from a ';' inside
    # a string) would swallow the declarations that follow it.
    if "/*" in value or value.count('"') % 2 or value.count("'") % 2:
        return False
    return _safe_value(value) is not None
