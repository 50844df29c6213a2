import { explainError } from "./model/errors.js";

// A few DOM helpers: the page is plain TypeScript over the DOM, no framework.

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

/** An element with attributes (`on*` functions become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** A labelled form field: the label names the control for screen readers. */
export function field(label: string, control: HTMLElement, help?: string): HTMLElement {
  const id =
    control.id ||
    `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${Math.random().toString(36).slice(2, 7)}`;
  control.id = id;
  const helpId = help ? `${id}-help` : undefined;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help ? h("small", { id: helpId }, help) : null,
  );
}

/**
 * An error as the page shows it: a title, the broker's words, what to do. role=alert makes screen
 * readers announce it; the banner never replaces the view (no blank screen).
 */
export function errorBox(err: unknown, context: string): HTMLElement {
  const x = explainError(err);
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, `${context}: ${x.title}`),
    h("p", {}, x.detail),
    h("p", { class: "hint" }, x.hint),
  );
}

/** Replaces `slot`'s content with an error box, or empties it. */
export function showError(slot: HTMLElement, err: unknown | undefined, context = ""): void {
  slot.replaceChildren(err === undefined ? "" : errorBox(err, context));
}

/** A status line for polite announcements (saved, created, deleted). */
export function notice(slot: HTMLElement, text: string): void {
  slot.replaceChildren(h("p", { class: "notice", role: "status" }, text));
}

/** A table with a caption and header row; rows are arrays of cells. */
export function table(
  caption: string,
  headers: string[],
  rows: Child[][],
  attrs: Attrs = {},
): HTMLTableElement {
  return h(
    "table",
    attrs,
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((x) => h("th", { scope: "col" }, x)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "none"))
        : rows.map((r) =>
            h(
              "tr",
              {},
              r.map((c) => h("td", {}, c)),
            ),
          ),
    ),
  );
}

/**
 * A modal confirmation (the native dialog: focus moves into it, Escape cancels). Resolves true only
 * when the user confirms.
 */
export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-title", class: "confirm" },
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, text),
    );
    const done = (ok: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    dialog.append(
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => done(false), autofocus: true }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => done(true) }, confirmLabel),
      ),
    );
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}
