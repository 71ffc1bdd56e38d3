/** A few lines of DOM building instead of a framework: elements, text, and SVG. */

type Child = Node | string | number | false | null | undefined | Child[];

export interface Props {
  class?: string;
  id?: string;
  /** Attributes set as given (aria-*, role, for, type, …). */
  attrs?: Record<string, string | number | boolean | undefined>;
  /** Event listeners. */
  on?: { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };
  text?: string;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

function apply(el: HTMLElement, p: Props): void {
  if (p.class) el.className = p.class;
  if (p.id) el.id = p.id;
  if (p.text !== undefined) el.textContent = p.text;
  for (const [k, v] of Object.entries(p.attrs ?? {})) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const [k, fn] of Object.entries(p.on ?? {})) el.addEventListener(k, fn as EventListener);
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === "number" ? String(c) : c);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A labelled form field: the label's `for` ties it to the control for screen readers. */
let fieldSeq = 0;
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= `f${++fieldSeq}`;
  const hintEl = hint ? h("small", { id: `${control.id}-hint`, class: "hint", text: hint }) : undefined;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { attrs: { for: control.id }, text: label }), control, hintEl);
}

export function input(attrs: Record<string, string | number | boolean | undefined> = {}): HTMLInputElement {
  return h("input", { attrs: { type: "text", ...attrs } });
}

export function select(options: [value: string, label: string][], value?: string): HTMLSelectElement {
  const s = h("select", {}, ...options.map(([v, l]) => h("option", { attrs: { value: v }, text: l })));
  if (value !== undefined) s.value = value;
  return s;
}

export function button(label: string, onClick: (ev: MouseEvent) => void, opts: { kind?: "primary" | "plain"; type?: "button" | "submit" } = {}): HTMLButtonElement {
  return h("button", { class: opts.kind === "primary" ? "primary" : "", attrs: { type: opts.type ?? "button" }, on: { click: onClick }, text: label });
}
