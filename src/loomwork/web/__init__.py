"""The pages people use: sign-in sessions and a small editor app served from `/`."""
