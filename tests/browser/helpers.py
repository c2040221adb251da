"""Small things the browser tests ask of a page."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

MARK_DOCUMENT = """() => {
  window.__sameDocument = true;
  const marker = document.createElement("span");
  marker.id = "same-document-marker";
  marker.hidden = true;
  document.body.appendChild(marker);
}"""

SAME_DOCUMENT = """() => window.__sameDocument === true
  && document.getElementById("same-document-marker") !== null"""


def mark_document(page: Page) -> str:
    """Mark the current document (window and body); returns the URL to compare with.

    A reload loses the window flag; an htmx-boosted navigation keeps the window but
    replaces the body, and with it the marker."""
    page.evaluate(MARK_DOCUMENT)
    return page.url


def assert_same_document(page: Page, url: str) -> None:
    """Nothing navigated since `mark_document`: no reload, no boosted swap, same URL."""
    assert page.evaluate(SAME_DOCUMENT), "the page was reloaded or navigated"
    assert page.url == url


def item_ids(page: Page, selector: str) -> list[str]:
    """The ids of the elements matching `selector`, in document order."""
    return page.eval_on_selector_all(selector, "els => els.map(e => e.id)")


# WCAG contrast of visible text against the background actually behind it (transparent
# and translucent backgrounds are composited over their ancestors'), in one round trip.
LOW_CONTRAST = """([selectors, minimum]) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map(i => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a)
      .concat([a]);
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (el) => {
    const layers = [];
    let alpha = parse(getComputedStyle(el).color)[3];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      const bg = parse(style.backgroundColor);
      alpha *= Number(style.opacity);
      if (bg[3] > 0) layers.push([bg[0], bg[1], bg[2], bg[3]]);
    }
    let bg = matchMedia("(prefers-color-scheme: dark)").matches ? [0, 0, 0, 1] : [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    const fg = parse(getComputedStyle(el).color);
    const text = over([fg[0], fg[1], fg[2], alpha], bg);
    const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
    return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
  };
  const found = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      const text = el.innerText ? el.innerText.trim() : "";
      const shown = el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
      if (!text || !shown) continue;
      const ratio = contrast(el);
      const what = JSON.stringify(text.slice(0, 40));
      if (ratio < minimum) found.push(`${selector} ${what}: ${ratio}:1`);
    }
  }
  return found;
}"""


def low_contrast(page: Page, selectors: list[str], minimum: float = 4.5) -> list[str]:
    """Visible elements among `selectors` whose text contrast is under `minimum`."""
    return page.evaluate(LOW_CONTRAST, [selectors, minimum])


LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push(`page scrolls sideways: ${root.scrollWidth}px in ${root.clientWidth}px`);
  }
  for (const el of document.querySelectorAll("main *, header *")) {
    const r = el.getBoundingClientRect();
    const fixed = getComputedStyle(el).position === "fixed";
    if (r.width > 0 && r.right > root.clientWidth + 1 && !fixed) {
      const classes = el.className ? "." + String(el.className).split(" ").join(".") : "";
      const name = el.tagName.toLowerCase() + classes;
      problems.push(`${name} sticks out to ${Math.round(r.right)}px`);
    }
  }
  return problems.slice(0, 10);
}"""

BROKEN_IMAGES = """async () => {
  for (const img of document.images) img.loading = "eager";
  const loaded = Promise.all([...document.images].map(img => img.decode().catch(() => null)));
  await Promise.race([loaded, new Promise(resolve => setTimeout(resolve, 5000))]);
  return [...document.images].filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute("src"));
}"""


def layout_problems(page: Page) -> list[str]:
    """Sideways overflow, elements sticking out of the viewport."""
    return page.evaluate(LAYOUT_PROBLEMS)


def broken_images(page: Page) -> list[Any]:
    """Images (avatars) that did not load."""
    return page.evaluate(BROKEN_IMAGES)
