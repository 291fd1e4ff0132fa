"""Regression corpus of known SVG attacks against loomwork.resources.svg.

Every attack either comes out of sanitize_svg with nothing dangerous left
(checked structurally by re-parsing the output, and by substring checks), or
is refused with SvgRejected.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as DefusedET
import pytest

from loomwork.resources.svg import MAX_SVG_BYTES, SvgRejected, sanitize_svg

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XHTML_NS = "http://www.w3.org/1999/xhtml"
OPEN = f'<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}" viewBox="0 0 24 24">'
CLOSE = "</svg>"

# Independent copy of the allowlist, so a careless widening of the module's
# list shows up here as a failing test.
ALLOWED_ELEMENTS = {
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
HREF_ELEMENTS = {"use", "linearGradient", "radialGradient", "pattern"}
LOCAL_FRAGMENT = re.compile(r"#[A-Za-z_][\w.-]*")
BAD_SCHEMES = ("javascript:", "data:", "vbscript:", "expression(")


def wrap(body: str) -> str:
    return OPEN + body + CLOSE


def assert_structurally_clean(output: str) -> None:
    """Re-parse the output and check every element and attribute."""
    assert output.startswith(f'<svg xmlns="{SVG_NS}"')
    root = DefusedET.fromstring(output, forbid_dtd=True)
    for element in root.iter():
        assert element.tag.startswith("{" + SVG_NS + "}"), element.tag
        local = element.tag.split("}", 1)[1]
        assert local in ALLOWED_ELEMENTS, local
        for name, value in element.attrib.items():
            assert not name.startswith("{"), name
            assert not name.lower().startswith("on"), name
            if name == "href":
                assert local in HREF_ELEMENTS
                assert LOCAL_FRAGMENT.fullmatch(value), value
            compact = re.sub(r"\s+", "", value).lower()
            for scheme in BAD_SCHEMES:
                assert scheme not in compact, (name, value)
            for target in re.findall(r"url\(([^)]*)\)", compact):
                assert target.strip("'\"").startswith("#"), (name, value)
            assert "\\" not in value


def assert_survivor_clean(markup: str, forbidden: tuple[str, ...]) -> str:
    output = sanitize_svg(markup)
    assert_structurally_clean(output)
    lowered = output.lower()
    for needle in forbidden:
        assert needle.lower() not in lowered, (needle, output)
    # Sanitising is a fixed point, also for hostile input.
    assert sanitize_svg(output) == output
    return output


# (id, markup, substrings that must not appear in the lowercased output)
ATTACKS = [
    # --- <script> in all its spellings ------------------------------------
    ("script-plain", wrap("<script>alert(1)</script><circle r='4'/>"), ("script", "alert")),
    ("script-unnamespaced-root", "<svg><script>alert(1)</script></svg>", ("script", "alert")),
    ("script-svg-prefix", f'<s:svg xmlns:s="{SVG_NS}"><s:script>alert(1)</s:script></s:svg>', ("script", "alert")),
    ("script-xhtml-namespace", wrap(f'<script xmlns="{XHTML_NS}">alert(1)</script>'), ("script", "alert")),
    (
        "script-cdata",
        wrap('<script type="text/ecmascript"><![CDATA[alert(document.cookie)]]></script>'),
        ("script", "alert", "cdata", "cookie"),
    ),
    ("script-nested-deep", wrap("<g><g><defs><script>alert(1)</script></defs></g></g>"), ("script", "alert")),
    ("script-inside-text", wrap("<text>hi<script>alert(1)</script>there</text>"), ("script", "alert")),
    ("script-inside-title", wrap("<title>t<script>alert(1)</script></title>"), ("script", "alert")),
    ("script-xlink-src", wrap('<script xlink:href="https://evil.example/x.js"/>'), ("script", "evil")),
    (
        "xml-events-handler",
        '<svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:ev="http://www.w3.org/2001/xml-events">'
        '<handler type="application/ecmascript" ev:event="load">alert(1)</handler>'
        "</svg>",
        ("handler", "alert", "ev:event", "load"),
    ),
    # --- event handler attributes -----------------------------------------
    ("onload-root", f'<svg xmlns="{SVG_NS}" onload="alert(1)"/>', ("onload", "alert")),
    ("onclick-rect", wrap('<rect width="5" height="5" onclick="alert(1)"/>'), ("onclick", "alert")),
    ("onload-uppercase", f'<svg xmlns="{SVG_NS}" ONLOAD="alert(1)"/>', ("onload", "alert")),
    ("onload-mixed-case", wrap('<circle r="1" OnLoAd="alert(1)"/>'), ("onload", "alert")),
    (
        "onmouseover-nested",
        wrap('<g><g><text x="1">hi<tspan onmouseover="alert(1)">x</tspan></text></g></g>'),
        ("onmouseover", "alert"),
    ),
    ("onbegin-on-use", wrap('<use href="#a" onbegin="alert(1)"/>'), ("onbegin", "alert")),
    (
        "onfocusin-namespaced",
        wrap('<g xmlns:h="http://www.w3.org/1999/xhtml" h:onfocusin="alert(1)"/>'),
        ("onfocusin", "alert"),
    ),
    # --- javascript: URLs --------------------------------------------------
    ("js-href-use", wrap('<use href="javascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-xlink-href-use", wrap('<use xlink:href="javascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-href-leading-whitespace", wrap('<use href=" &#9;&#10; javascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-href-tab-inside", wrap('<use href="java&#9;script:alert(1)"/>'), ("script", "alert")),
    ("js-href-newline-inside", wrap('<use href="java&#x0A;script:alert(1)"/>'), ("script", "alert")),
    ("js-href-entity-encoded", wrap('<use href="&#106;avascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-xlink-href-hex-entities", wrap('<use xlink:href="&#x6A;&#x61;vascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-href-mixed-case", wrap('<use href="JaVaScRiPt:alert(1)"/>'), ("javascript", "alert")),
    ("js-href-on-gradient", wrap('<linearGradient id="g" href="javascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-fragment-lookalike", wrap('<use href="#javascript:alert(1)"/>'), ("javascript", "alert")),
    ("js-vbscript", wrap('<use href="vbscript:msgbox(1)"/>'), ("vbscript", "msgbox")),
    ("js-valid-plus-evil-xlink", wrap('<use href="#ok" xlink:href="javascript:alert(1)"/>'), ("javascript", "alert")),
    ("href-on-non-reference-element", wrap('<rect href="#x" width="1"/>'), ("href",)),
    # --- data: URLs -------------------------------------------------------
    (
        "data-href-use",
        wrap('<use href="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0Lz48L3N2Zz4=#a"/>'),
        ("data:", "base64"),
    ),
    (
        "data-xlink-href-pattern",
        wrap('<pattern id="p" xlink:href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"/>'),
        ("data:", "script", "alert"),
    ),
    ("data-uppercase-spaced", wrap('<use href="  DATA:text/html,x"/>'), ("data:",)),
    # --- embedded HTML ----------------------------------------------------
    (
        "foreignobject-html",
        wrap(
            '<foreignObject width="100" height="100">'
            f'<body xmlns="{XHTML_NS}"><iframe src="javascript:alert(1)"/>'
            '<img src="x" onerror="alert(2)"/><p>hi</p></body></foreignObject>'
        ),
        ("foreignobject", "iframe", "onerror", "javascript", "body", "img", "alert"),
    ),
    (
        "html-iframe-embed-object",
        wrap(
            f'<iframe xmlns="{XHTML_NS}" src="https://evil.example/"/>'
            '<embed src="https://evil.example/x.swf"/>'
            '<object data="https://evil.example/x"/>'
        ),
        ("iframe", "embed", "object", "evil"),
    ),
    # --- external references ----------------------------------------------
    ("use-external-http", wrap('<use href="http://evil.example/x.svg#a"/>'), ("evil",)),
    ("use-external-relative", wrap('<use href="other.svg#a"/>'), ("other.svg",)),
    ("use-external-xlink", wrap('<use xlink:href="//evil.example/x.svg#a"/>'), ("evil",)),
    ("use-file-url", wrap('<use href="file:///etc/passwd#a"/>'), ("passwd", "file:")),
    (
        "xml-base-rebases-fragment",
        f'<svg xmlns="{SVG_NS}" xml:base="http://evil.example/"><use href="#a"/></svg>',
        ("evil", "xml:base", "base="),
    ),
    ("image-href", wrap('<image href="https://evil.example/track.png" width="1"/>'), ("image", "evil")),
    (
        "image-xlink-data",
        wrap('<image xlink:href="data:image/svg+xml,&lt;svg onload=alert(1)&gt;"/>'),
        ("image", "data:", "onload"),
    ),
    (
        "feimage-in-filter",
        wrap('<filter id="f"><feImage href="https://evil.example/x.png"/></filter>'),
        ("feimage", "filter", "evil"),
    ),
    # --- animation that rewrites attributes -------------------------------
    (
        "set-href-javascript",
        wrap('<use href="#a"><set attributeName="href" to="javascript:alert(1)"/></use>'),
        ("<set", "attributename", "javascript", "alert"),
    ),
    (
        "set-onload-attribute",
        wrap('<rect width="1"><set attributeName="onmouseover" to="alert(1)"/></rect>'),
        ("<set", "onmouseover", "alert"),
    ),
    (
        "animate-href-values",
        wrap('<use href="#a"><animate attributeName="href" values="javascript:alert(1);#a" dur="1s"/></use>'),
        ("animate", "values", "javascript", "alert"),
    ),
    (
        "animate-xlink-href",
        wrap(
            '<use xlink:href="#a"><animate attributeName="xlink:href" '
            'from="#a" to="javascript:alert(1)" begin="0s"/></use>'
        ),
        ("animate", "javascript", "alert"),
    ),
    (
        "animatemotion-and-transform",
        wrap(
            '<rect width="1"><animateMotion path="M0 0" onbegin="alert(1)"/>'
            '<animateTransform attributeName="transform" type="rotate" onend="alert(2)"/>'
            "</rect>"
        ),
        ("animate", "onbegin", "onend", "alert"),
    ),
    # --- links -------------------------------------------------------------
    ("a-javascript", wrap('<a href="javascript:alert(1)"><circle r="3"/></a>'), ("<a", "javascript", "alert")),
    (
        "a-xlink-external",
        wrap('<a xlink:href="https://evil.example/phish" target="_top"><text>Login</text></a>'),
        ("<a", "evil", "target", "login"),
    ),
    # --- CSS ---------------------------------------------------------------
    (
        "style-element-import",
        wrap(
            "<style>@import url(https://evil.example/x.css); "
            "circle { fill: url(javascript:alert(1)) }</style><circle r='1'/>"
        ),
        ("<style", "@import", "evil", "javascript"),
    ),
    (
        "style-element-xhtml",
        wrap(f'<style xmlns="{XHTML_NS}">body{{background:url(//evil.example/)}}</style>'),
        ("<style", "evil", "background"),
    ),
    (
        "style-attr-url-javascript",
        wrap('<rect width="1" style="fill:url(javascript:alert(1))"/>'),
        ("javascript", "alert", "style="),
    ),
    (
        "style-attr-expression",
        wrap('<rect width="1" style="width:expression(alert(1));fill:red"/>'),
        ("expression", "alert"),
    ),
    (
        "style-attr-moz-binding",
        wrap('<rect style="-moz-binding:url(http://evil.example/x.xml#b);fill:red"/>'),
        ("binding", "evil"),
    ),
    (
        "style-attr-background-image",
        wrap('<rect style="background-image:url(https://evil.example/t.png)"/>'),
        ("background", "evil", "style="),
    ),
    ("style-attr-import", wrap('<rect style="@import url(//evil.example/x.css)"/>'), ("@import", "evil")),
    ("style-attr-css-escape", wrap('<rect style="fill:u\\72 l(https://evil.example/x)"/>'), ("evil",)),
    ("style-attr-comment", wrap('<rect style="fill:url(/**/https://evil.example/)"/>'), ("evil",)),
    (
        "style-attr-breakout",
        wrap('<rect style="fill:red}&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;"/>'),
        ("script", "alert"),
    ),
    (
        "style-attr-image-set",
        wrap('<rect style="fill:image-set(&quot;https://evil.example/x&quot; 1x)"/>'),
        ("evil", "image-set"),
    ),
    ("fill-url-external", wrap('<rect width="1" fill="url(http://evil/#x)"/>'), ("evil", "fill=")),
    ("fill-url-external-quoted", wrap('<rect width="1" fill="url(\'https://evil.example/x.svg#g\')"/>'), ("evil",)),
    ("fill-url-local-then-external", wrap('<rect fill="url(#ok) url(http://evil.example/#x)"/>'), ("evil",)),
    ("mask-url-relative-file", wrap('<g mask="url(other.svg#m)"/>'), ("other.svg",)),
    ("clip-path-url-uppercase", wrap('<g clip-path="URL(http://evil.example/#c)"/>'), ("evil",)),
    ("fill-css-escape", wrap('<rect fill="u\\rl(http://evil.example/#x)"/>'), ("evil",)),
    ("fill-javascript", wrap('<rect fill="javascript:alert(1)"/>'), ("javascript",)),
    # --- XML-level tricks that parse but must not survive -----------------
    (
        "xinclude",
        wrap('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'),
        ("include", "passwd"),
    ),
    (
        "processing-instruction-prolog",
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<?xml-stylesheet type="text/css" href="https://evil.example/x.css"?>' + wrap('<circle r="2"/>'),
        ("<?", "stylesheet", "evil"),
    ),
    ("processing-instruction-inside", wrap('<?php system("id"); ?><g><?evil payload?></g>'), ("<?", "php", "evil")),
    (
        "comments",
        "<!-- <script>alert(0)</script> -->"
        + wrap("<!-- <script>alert(1)</script> --><g><!--[if IE]>x<![endif]--></g>"),
        ("<!--", "script", "alert", "endif"),
    ),
    (
        "unknown-namespace-attributes",
        wrap('<g xmlns:x="urn:evil" x:href="javascript:alert(1)" x:fill="red"/>'),
        ("javascript", "urn:evil", "x:"),
    ),
    (
        "editor-metadata",
        f'<svg xmlns="{SVG_NS}" xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/'
        'sodipodi-0.dtd" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape">'
        '<sodipodi:namedview inkscape:zoom="1"/><metadata><x>y</x></metadata>'
        '<path inkscape:label="p" d="M0 0h1"/></svg>',
        ("sodipodi", "inkscape", "metadata", "namedview"),
    ),
]


@pytest.mark.parametrize(
    ("markup", "forbidden"),
    [pytest.param(markup, forbidden, id=case_id) for case_id, markup, forbidden in ATTACKS],
)
def test_attack_does_not_survive(markup: str, forbidden: tuple[str, ...]) -> None:
    assert_survivor_clean(markup, forbidden)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE svg ['
    '<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    f']><svg xmlns="{SVG_NS}"><text>&lol3;</text></svg>'
)

# (id, markup, substring expected in the human reason)
REJECTED = [
    (
        "dtd-internal-entity",
        '<!DOCTYPE svg [<!ENTITY x "javascript:alert(1)">]>' + wrap('<use href="&x;"/>'),
        "document type",
    ),
    (
        "dtd-external-entity-file",
        '<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + wrap("<text>&xxe;</text>"),
        "document type",
    ),
    (
        "dtd-external-entity-http",
        '<!DOCTYPE svg [<!ENTITY xxe SYSTEM "http://evil.example/x">]>' + wrap("<text>&xxe;</text>"),
        "document type",
    ),
    (
        "dtd-parameter-entity",
        '<!DOCTYPE svg [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]>' + wrap(""),
        "document type",
    ),
    (
        "dtd-public-external-subset",
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + wrap(""),
        "document type",
    ),
    ("billion-laughs", BILLION_LAUGHS, "document type"),
    ("undeclared-entity", wrap("<text>&xxe;</text>"), "well-formed"),
    ("html-entity", wrap("<text>&nbsp;</text>"), "well-formed"),
    ("root-html", f'<html xmlns="{XHTML_NS}"><body><svg xmlns="{SVG_NS}"/></body></html>', "not SVG"),
    ("root-html-plain", "<html><script>alert(1)</script></html>", "not SVG"),
    ("root-math", '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi></math>', "not SVG"),
    ("root-svg-wrong-namespace", '<svg xmlns="http://example.com/not-svg"/>', "not SVG"),
    ("root-svg-local-name-xhtml", f'<h:svg xmlns:h="{XHTML_NS}"/>', "not SVG"),
    ("root-uppercase-svg", f'<SVG xmlns="{SVG_NS}"/>', "not SVG"),
    ("root-script", f'<script xmlns="{SVG_NS}">alert(1)</script>', "not SVG"),
    ("plain-text", "hello world", "well-formed"),
    ("html-fragment", '<img src=x onerror="alert(1)">', "well-formed"),
    ("unclosed-element", wrap("<g>"), "well-formed"),
    ("truncated", "<svg xmlns=", "well-formed"),
    ("two-roots", wrap("") + wrap(""), "well-formed"),
    ("unquoted-attribute", "<svg onload=alert(1)></svg>", "well-formed"),
    ("empty", "", "empty"),
    ("whitespace-only", " \n\t ", "empty"),
    ("oversized", wrap("<path d='" + "M0 0" * (MAX_SVG_BYTES // 4) + "'/>"), "64 KiB"),
    ("oversized-in-utf8-only", wrap("<title>" + "\u00e9" * (MAX_SVG_BYTES // 2) + "</title>"), "64 KiB"),
    ("oversized-comment-padding", wrap("<!--" + "x" * MAX_SVG_BYTES + "-->"), "64 KiB"),
    ("absurd-nesting", wrap("<g>" * 5000 + "</g>" * 5000), "nested too deeply"),
]


@pytest.mark.parametrize(
    ("markup", "reason"),
    [pytest.param(markup, reason, id=case_id) for case_id, markup, reason in REJECTED],
)
def test_rejected(markup: str, reason: str) -> None:
    with pytest.raises(SvgRejected) as excinfo:
        sanitize_svg(markup)
    assert reason in str(excinfo.value)


@pytest.mark.parametrize("value", [None, b"<svg/>", 42, ["<svg/>"]], ids=repr)
def test_non_string_input_is_rejected(value: object) -> None:
    with pytest.raises(SvgRejected):
        sanitize_svg(value)  # type: ignore[arg-type]


def test_svg_rejected_is_a_value_error_with_short_reason() -> None:
    with pytest.raises(ValueError) as excinfo:
        sanitize_svg("<html/>")
    assert isinstance(excinfo.value, SvgRejected)
    assert str(excinfo.value) == "is not SVG markup"


def test_size_limit_boundary_is_inclusive() -> None:
    head = f'<svg xmlns="{SVG_NS}"><title>'
    tail = "</title></svg>"
    filler = "a" * (MAX_SVG_BYTES - len(head) - len(tail))
    exactly = head + filler + tail
    assert len(exactly.encode("utf-8")) == MAX_SVG_BYTES
    assert sanitize_svg(exactly).startswith("<svg")
    with pytest.raises(SvgRejected, match="64 KiB"):
        sanitize_svg(head + filler + "a" + tail)


# --- things that must keep working ----------------------------------------

NORMAL_ICON = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}" viewBox="0 0 24 24" '
    'width="24" height="24" role="img" aria-label="Loom">\n'
    "  <title>Loom</title>\n"
    "  <desc>A small loom &amp; shuttle</desc>\n"
    "  <defs>\n"
    '    <linearGradient id="grad" x1="0" y1="0" x2="1" y2="1">\n'
    '      <stop offset="0" stop-color="#ff0000"/>\n'
    '      <stop offset="1" stop-color="#0000ff" stop-opacity="0.5"/>\n'
    "    </linearGradient>\n"
    '    <radialGradient id="rad" xlink:href="#grad" cx="0.5" cy="0.5" r="0.5"/>\n'
    '    <symbol id="dot" viewBox="0 0 2 2"><circle cx="1" cy="1" r="1"/></symbol>\n'
    '    <clipPath id="clip"><rect width="24" height="24" rx="4"/></clipPath>\n'
    "  </defs>\n"
    '  <g clip-path="url(#clip)" transform="translate(1 1)">\n'
    '    <path d="M2 2 L22 22 Z" fill="url(#grad)" stroke="#000" stroke-width="2"/>\n'
    '    <circle cx="12" cy="12" r="5" style="fill:#fff; stroke: url(\'#rad\')"/>\n'
    '    <use href="#dot" x="3" y="3" width="2" height="2"/>\n'
    '    <text x="4" y="20" font-size="4">Lo<tspan dx="1">om</tspan> &lt;3</text>\n'
    "  </g>\n"
    "</svg>\n"
)


def _by_local_name(root: ET.Element, name: str) -> list[ET.Element]:
    return list(root.iter(f"{{{SVG_NS}}}{name}"))


def test_normal_icon_keeps_shapes_and_attributes() -> None:
    output = sanitize_svg(NORMAL_ICON)
    assert output.startswith(f'<svg xmlns="{SVG_NS}"')
    assert_structurally_clean(output)
    root = ET.fromstring(output)
    assert root.attrib == {
        "viewBox": "0 0 24 24",
        "width": "24",
        "height": "24",
        "role": "img",
        "aria-label": "Loom",
    }
    (path,) = _by_local_name(root, "path")
    assert path.attrib == {
        "d": "M2 2 L22 22 Z",
        "fill": "url(#grad)",
        "stroke": "#000",
        "stroke-width": "2",
    }
    circles = _by_local_name(root, "circle")
    assert {"cx": "12", "cy": "12", "r": "5", "style": "fill:#fff;stroke:url('#rad')"} in [c.attrib for c in circles]
    (gradient,) = _by_local_name(root, "linearGradient")
    assert gradient.attrib["id"] == "grad"
    stops = _by_local_name(gradient, "stop")
    assert [s.attrib for s in stops] == [
        {"offset": "0", "stop-color": "#ff0000"},
        {"offset": "1", "stop-color": "#0000ff", "stop-opacity": "0.5"},
    ]
    (radial,) = _by_local_name(root, "radialGradient")
    assert radial.attrib["href"] == "#grad"  # xlink:href is rewritten to plain href
    (use,) = _by_local_name(root, "use")
    assert use.attrib == {"href": "#dot", "x": "3", "y": "3", "width": "2", "height": "2"}
    (group,) = _by_local_name(root, "g")
    assert group.attrib == {"clip-path": "url(#clip)", "transform": "translate(1 1)"}
    assert _by_local_name(root, "symbol") and _by_local_name(root, "clipPath")
    assert _by_local_name(root, "title")[0].text == "Loom"
    assert _by_local_name(root, "desc")[0].text == "A small loom & shuttle"
    (text,) = _by_local_name(root, "text")
    assert "".join(text.itertext()) == "Loom <3"


def test_unnamespaced_root_is_accepted_and_gets_svg_namespace() -> None:
    output = sanitize_svg('<svg viewBox="0 0 1 1"><rect width="1" height="1"/></svg>')
    assert output.startswith(f'<svg xmlns="{SVG_NS}"')
    root = ET.fromstring(output)
    assert root.tag == f"{{{SVG_NS}}}svg"
    assert _by_local_name(root, "rect")[0].attrib == {"width": "1", "height": "1"}


def test_prefixed_svg_namespace_is_output_as_default_namespace() -> None:
    output = sanitize_svg(f'<s:svg xmlns:s="{SVG_NS}"><s:circle r="1"/></s:svg>')
    assert output == f'<svg xmlns="{SVG_NS}"><circle r="1" /></svg>'
    assert "ns0" not in output and "s:" not in output


def test_style_attribute_keeps_only_allowed_declarations() -> None:
    output = sanitize_svg(
        wrap(
            '<rect style="FILL: red; position: fixed; stroke:url(#g);'
            " z-index: 9; opacity:0.5; font-family: 'Open Sans', serif;\"/>"
        )
    )
    rect = _by_local_name(ET.fromstring(output), "rect")[0]
    assert rect.attrib["style"] == ("fill:red;stroke:url(#g);opacity:0.5;font-family:'Open Sans', serif")


def test_style_attribute_with_nothing_allowed_is_dropped() -> None:
    output = sanitize_svg(wrap('<rect width="1" style="position:fixed;top:0"/>'))
    assert _by_local_name(ET.fromstring(output), "rect")[0].attrib == {"width": "1"}


def test_local_url_references_survive_in_all_quoting_styles() -> None:
    output = sanitize_svg(
        wrap('<rect fill="url(#a)"/><rect fill="url(\'#b\')"/><rect fill=\'url("#c")\'/><rect fill="url( #d ) red"/>')
    )
    fills = [r.attrib["fill"] for r in _by_local_name(ET.fromstring(output), "rect")]
    assert fills == ["url(#a)", "url('#b')", 'url("#c")', "url( #d ) red"]


def test_href_whitespace_is_stripped_and_xlink_normalised() -> None:
    output = sanitize_svg(wrap('<use xlink:href="  #icon-1.a_b  "/>'))
    (use,) = _by_local_name(ET.fromstring(output), "use")
    assert use.attrib == {"href": "#icon-1.a_b"}


def test_text_is_escaped_and_kept_only_where_meaningful() -> None:
    output = sanitize_svg(wrap("stray<g>junk<rect/>tail</g><text>a &lt;b&gt; &amp; c<tspan>d</tspan>e</text>"))
    assert "stray" not in output and "junk" not in output and "tail" not in output
    assert "a &lt;b&gt; &amp; c" in output
    (text,) = _by_local_name(ET.fromstring(output), "text")
    assert "".join(text.itertext()) == "a <b> & cde"


IDEMPOTENCE_SAMPLES = [
    pytest.param(NORMAL_ICON, id="normal-icon"),
    pytest.param("<svg><text>line\r\nbreak&#13;cr</text></svg>", id="carriage-returns"),
    pytest.param(wrap('<rect aria-label="a&#9;b&#10;c &quot;q&quot; &lt;&gt;"/>'), id="escaped-attribute"),
    pytest.param(wrap('<rect style=" fill : red ;; ; stroke:blue "/>'), id="messy-style"),
    pytest.param(wrap("<text>\u2603 \U0001f600 caf\u00e9</text>"), id="non-ascii"),
] + [pytest.param(markup, id=f"attack-{case_id}") for case_id, markup, _ in ATTACKS]


@pytest.mark.parametrize("markup", IDEMPOTENCE_SAMPLES)
def test_sanitize_is_idempotent(markup: str) -> None:
    once = sanitize_svg(markup)
    assert sanitize_svg(once) == once
