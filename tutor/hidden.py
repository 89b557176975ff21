"""Text a reader cannot see never enters the index.

A document can carry text that no student reading it would see — an element styled `display:none`,
white text on a white page, a PDF string drawn in the invisible render mode — and that is exactly
where an instruction aimed at the tutor hides. Only what a person would see is course material, so
hidden text is dropped here, before chunking.

HTML: elements with the `hidden` attribute or `aria-hidden="true"`, and elements whose inline style
or a `<style>` rule that matches them (soupsieve selectors) hides them: `display:none`,
`visibility:hidden`, zero font size, zero opacity, transparent text, text far off-screen, or a text
colour (nearly) equal to the background colour it sits on (white if none is set).

PDF: text-showing operators drawn in render mode 3 or 7 (neither filled nor stroked), at font size
0, or filled white (or nearly) when nothing but white has been painted on the page before them (so
white text on a dark banner or a picture is kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# --- colours ----------------------------------------------------------------------------------------

Colour = tuple[float, float, float, float]  # r, g, b in 0..255, alpha 0..1
WHITE: Colour = (255.0, 255.0, 255.0, 1.0)
BLACK: Colour = (0.0, 0.0, 0.0, 1.0)
# Two colours closer than this on every channel (of 255) cannot be told apart on a screen.
_INDISTINCT = 24

_NAMED = {
    "white": WHITE, "black": BLACK, "snow": (255, 250, 250, 1.0), "ivory": (255, 255, 240, 1.0),
    "whitesmoke": (245, 245, 245, 1.0), "ghostwhite": (248, 248, 255, 1.0), "floralwhite": (255, 250, 240, 1.0),
    "mintcream": (245, 255, 250, 1.0), "azure": (240, 255, 255, 1.0), "seashell": (255, 245, 238, 1.0),
    "linen": (250, 240, 230, 1.0), "red": (255, 0, 0, 1.0), "green": (0, 128, 0, 1.0), "blue": (0, 0, 255, 1.0),
    "yellow": (255, 255, 0, 1.0), "gray": (128, 128, 128, 1.0), "grey": (128, 128, 128, 1.0),
    "silver": (192, 192, 192, 1.0), "navy": (0, 0, 128, 1.0), "orange": (255, 165, 0, 1.0),
    "transparent": (0, 0, 0, 0.0),
}
_HEX = re.compile(r"#([0-9a-f]{3,8})\b")
_RGB = re.compile(r"rgba?\(\s*([\d.]+%?)[\s,]+([\d.]+%?)[\s,]+([\d.]+%?)(?:[\s,/]+([\d.]+%?))?\s*\)")


def parse_colour(value: str) -> Colour | None:
    """A CSS colour (#rgb, #rrggbb[aa], rgb()/rgba(), a common name), or None if not understood."""
    value = value.strip().lower()
    if match := _HEX.search(value):
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(d * 2 for d in digits)
        if len(digits) not in (6, 8):
            return None
        alpha = int(digits[6:8], 16) / 255 if len(digits) == 8 else 1.0
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha)
    if match := _RGB.search(value):
        def channel(text: str) -> float:
            return float(text[:-1]) * 2.55 if text.endswith("%") else float(text)
        r, g, b = (channel(match.group(i)) for i in (1, 2, 3))
        alpha_text = match.group(4)
        alpha = (float(alpha_text[:-1]) / 100 if alpha_text.endswith("%") else float(alpha_text)) if alpha_text else 1.0
        return (r, g, b, alpha)
    for word in re.findall(r"[a-z]+", value):
        if word in _NAMED:
            return _NAMED[word]
    return None


def indistinct(text: Colour, background: Colour) -> bool:
    if text[3] <= 0.05:
        return True
    return all(abs(a - b) <= _INDISTINCT for a, b in zip(text[:3], background[:3]))


# --- HTML -------------------------------------------------------------------------------------------

_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_MAX_RULES = 2000  # a stylesheet bigger than this is not a course page's; the rest are ignored
_LENGTH = re.compile(r"^(-?[\d.]+)\s*(px|pt|em|rem|%|vw|vh|ex|ch)?$")


def declarations(style: str) -> dict[str, str]:
    """'color: #fff; display:none !important' -> {'color': '#fff', 'display': 'none'}"""
    found: dict[str, str] = {}
    for part in style.split(";"):
        name, sep, value = part.partition(":")
        if sep:
            found[name.strip().lower()] = value.replace("!important", "").strip().lower()
    return found


def _length(value: str) -> tuple[float, str] | None:
    match = _LENGTH.match(value.split()[0]) if value.split() else None
    if not match:
        return None
    try:
        return float(match.group(1)), match.group(2) or "px"
    except ValueError:
        return None


def _tiny_font(value: str) -> bool:
    length = _length(value)
    if length is None:
        return False
    size, unit = length
    return size <= (1.0 if unit in ("px", "pt") else 0.1 if unit in ("em", "rem", "ex", "ch") else 5.0 if unit == "%"
                    else 0.1)


def _far_off_screen(value: str) -> bool:
    length = _length(value)
    return length is not None and length[0] <= -500 and length[1] in ("px", "pt", "em", "rem")


def hides(style: dict[str, str]) -> bool:
    """Does this set of declarations make an element and its text invisible by itself?"""
    if style.get("display", "").startswith("none") or style.get("visibility", "").startswith(("hidden", "collapse")):
        return True
    if "font-size" in style and _tiny_font(style["font-size"]):
        return True
    opacity = style.get("opacity", "")
    try:
        if opacity and float(opacity.rstrip("%")) <= (5 if opacity.endswith("%") else 0.05):
            return True
    except ValueError:
        pass
    if any(_far_off_screen(style.get(k, "")) for k in ("text-indent", "left", "top", "margin-left", "margin-top")):
        return True
    if style.get("clip-path", "").startswith(("inset(50%", "inset(100%", "circle(0")) or \
            re.sub(r"\s", "", style.get("clip", "")).startswith(("rect(0,0,0,0)", "rect(0000)", "rect(0px,0px,0px,0px)")):
        return True
    zero = ("0", "0px", "0em", "0%")
    if (style.get("height") in zero or style.get("max-height") in zero or style.get("width") in zero) \
            and style.get("overflow", "").startswith(("hidden", "clip")):
        return True
    return False


def _background(style: dict[str, str]) -> Colour | None:
    for key in ("background-color", "background"):
        if key in style:
            colour = parse_colour(style[key])
            if colour is not None and colour[3] > 0.05:
                return colour
    return None


def _stylesheet_rules(soup: Any) -> Iterable[tuple[str, dict[str, str]]]:
    count = 0
    for tag in soup.find_all("style"):
        css = re.sub(r"/\*.*?\*/", "", tag.get_text(), flags=re.DOTALL)
        for match in _RULE.finditer(css):
            selector, body = match.group(1).strip(), declarations(match.group(2))
            if not body or selector.startswith("@"):
                continue
            for one in selector.split(","):
                count += 1
                if count > _MAX_RULES:
                    return
                yield one.strip(), body


def drop_hidden_html(soup: Any) -> int:
    """Remove every element a reader would not see (with its text). Returns how many were removed.
    Call before <style> elements are dropped: their rules are read here."""
    from bs4 import Tag

    sheet: dict[int, dict[str, str]] = {}
    for selector, body in _stylesheet_rules(soup):
        if not selector or ":" in selector.replace("\\:", ""):  # :hover, ::before... are not the resting page
            continue
        try:
            matched = soup.select(selector, limit=10_000)
        except Exception:  # soupsieve rejects selectors it does not support; such a rule is skipped
            continue
        for element in matched:
            sheet.setdefault(id(element), {}).update(body)

    colour_of: dict[int, Colour] = {}
    background_of: dict[int, Colour] = {}
    doomed: list[Tag] = []
    dead: set[int] = set()
    # Document order visits a parent before its children, so inherited values are ready (and no
    # recursion: a page nested 100,000 deep is walked like a flat one).
    for element in soup.descendants:
        if not isinstance(element, Tag):
            continue
        parent = element.parent
        parent_id = id(parent) if parent is not None else 0
        if parent_id in dead:
            dead.add(id(element))
            continue
        style = dict(sheet.get(id(element), {}))
        inline = element.get("style")
        if isinstance(inline, str):
            style.update(declarations(inline))
        if (element.has_attr("hidden") or str(element.get("aria-hidden", "")).lower() == "true"
                or str(element.get("type", "")).lower() == "hidden" or hides(style)):
            doomed.append(element)
            dead.add(id(element))
            continue
        background = _background(style) or background_of.get(parent_id, WHITE)
        colour = parse_colour(style["color"]) if "color" in style else None
        colour = colour or colour_of.get(parent_id, BLACK)
        background_of[id(element)], colour_of[id(element)] = background, colour
        if indistinct(colour, background) and any(
                isinstance(child, str) and child.strip() for child in element.children):
            doomed.append(element)
            dead.add(id(element))
    for element in doomed:
        element.decompose()
    return len(doomed)


# --- PDF --------------------------------------------------------------------------------------------

_SHOW_TEXT = {b"Tj", b"TJ", b"'", b'"'}
_FILL_PAINT = {b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"sh"}
_INVISIBLE_MODES = {3, 7}


def _numbers(operands: list[Any]) -> list[float] | None:
    try:
        return [float(x) for x in operands]
    except (TypeError, ValueError):
        return None


def _fill_from(operator: bytes, operands: list[Any]) -> tuple[float, float, float] | None:
    """An RGB fill colour (0..1) from g / rg / k / sc / scn operands, or None if not a plain colour."""
    values = _numbers(operands)
    if values is None:
        return None
    if operator == b"g" or (operator in (b"sc", b"scn") and len(values) == 1):
        return (values[0],) * 3 if values else None
    if operator == b"rg" or (operator in (b"sc", b"scn") and len(values) == 3):
        return tuple(values[:3]) if len(values) >= 3 else None  # type: ignore[return-value]
    if operator == b"k" or (operator in (b"sc", b"scn") and len(values) == 4):
        if len(values) < 4:
            return None
        c, m, y, k = values[:4]
        return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
    return None


def _near_white(rgb: tuple[float, float, float]) -> bool:
    return all(channel >= 1 - _INDISTINCT / 255 for channel in rgb)


def visible_operations(operations: list[tuple[Any, bytes]]) -> tuple[list[tuple[Any, bytes]], int]:
    """A page's content-stream operations without the text-showing ones nobody could see.
    Returns the kept operations and how many were dropped."""
    state = {"mode": 0, "fill": (0.0, 0.0, 0.0), "size": 1.0}
    stack: list[dict[str, Any]] = []
    painted = False  # has anything but white been painted where white text could sit on it?
    kept: list[tuple[Any, bytes]] = []
    dropped = 0
    for operands, operator in operations:
        if operator == b"q":
            stack.append(dict(state))
        elif operator == b"Q" and stack:
            state = stack.pop()
        elif operator == b"Tr":
            values = _numbers(operands)
            if values:
                state["mode"] = int(values[0])
        elif operator == b"Tf" and len(operands) >= 2:
            values = _numbers(operands[1:2])
            if values:
                state["size"] = abs(values[0])
        elif operator in (b"g", b"rg", b"k", b"sc", b"scn"):
            fill = _fill_from(operator, list(operands))
            if fill is not None:
                state["fill"] = fill
        elif operator == b"cs":
            state["fill"] = (0.0, 0.0, 0.0)  # a new colour space starts at its initial colour (black)
        elif operator in _FILL_PAINT and not _near_white(state["fill"]):
            painted = True
        elif operator in (b"Do", b"BI", b"ID"):
            painted = True  # a picture or form: white text may sit on it
        if operator in _SHOW_TEXT:
            fill_only = state["mode"] in (0, 4)
            invisible = (state["mode"] in _INVISIBLE_MODES or state["size"] == 0
                         or (fill_only and _near_white(state["fill"]) and not painted))
            if invisible:
                dropped += 1
                # ' and " also move to the next line: keep that, so the words around stay apart.
                if operator == b"'":
                    kept.append(([], b"T*"))
                elif operator == b'"' and len(operands) >= 2:
                    kept += [([operands[0]], b"Tw"), ([operands[1]], b"Tc"), ([], b"T*")]
                continue
        kept.append((operands, operator))
    return kept, dropped
