/**
 * A regular expression's source as a tree: the subset the scanner's analyses follow (literal
 * atoms, classes, escapes, groups, alternation, bounded and unbounded quantifiers, lookarounds).
 * Anything else (backreferences, modifiers) is Unsupported, and each analysis then falls back to
 * its conservative answer.
 */
export type Node =
  | { t: "atom"; src: string }
  | { t: "assert"; src: string }
  | { t: "seq"; items: Node[] }
  | { t: "alt"; options: Node[] }
  | { t: "rep"; body: Node; min: number; max: number; lazy: boolean }
  | { t: "look"; behind: boolean; neg: boolean; body: Node };

export class Unsupported extends Error {}

export class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    const n = this.disjunction();
    if (this.i !== this.s.length) throw new Unsupported(`unexpected '${this.s[this.i]}'`);
    return n;
  }

  private disjunction(): Node {
    const options = [this.alternative()];
    while (this.s[this.i] === "|") {
      this.i++;
      options.push(this.alternative());
    }
    return options.length === 1 ? options[0]! : { t: "alt", options };
  }

  private alternative(): Node {
    const items: Node[] = [];
    while (this.i < this.s.length && this.s[this.i] !== "|" && this.s[this.i] !== ")") {
      const t = this.term();
      // A plain group's sequence is spliced in: same meaning, and shared leading parts become visible.
      if (t.t === "seq") items.push(...t.items);
      else items.push(t);
    }
    return items.length === 1 ? items[0]! : { t: "seq", items };
  }

  private term(): Node {
    const s = this.s;
    const c = s[this.i]!;
    if (c === "^" || c === "$") {
      this.i++;
      return { t: "assert", src: c };
    }
    if (c === "\\" && (s[this.i + 1] === "b" || s[this.i + 1] === "B")) {
      this.i += 2;
      return { t: "assert", src: "\\" + s[this.i - 1] };
    }
    if (c === "(" && s[this.i + 1] === "?" && (s[this.i + 2] === "=" || s[this.i + 2] === "!")) {
      const neg = s[this.i + 2] === "!";
      this.i += 3;
      const body = this.groupBody();
      // Annex B allows quantified lookaheads; nothing here needs them.
      if (this.quantifierAhead()) throw new Unsupported("quantified lookahead");
      return { t: "look", behind: false, neg, body };
    }
    if (c === "(" && s.startsWith("?<=", this.i + 1)) {
      this.i += 4;
      return { t: "look", behind: true, neg: false, body: this.groupBody() };
    }
    if (c === "(" && s.startsWith("?<!", this.i + 1)) {
      this.i += 4;
      return { t: "look", behind: true, neg: true, body: this.groupBody() };
    }
    let atom: Node;
    if (c === "(") {
      if (s[this.i + 1] === "?") {
        if (s[this.i + 2] === ":") this.i += 3;
        else if (s[this.i + 2] === "<") {
          // Named group: kept as a plain group (names would clash once P repeats a subpattern).
          const close = s.indexOf(">", this.i);
          if (close === -1) throw new Unsupported("group name");
          this.i = close + 1;
        } else throw new Unsupported("group modifier");
      } else this.i++;
      atom = this.groupBody();
    } else if (c === "[") atom = { t: "atom", src: this.charClass() };
    else if (c === "\\") atom = { t: "atom", src: this.escape() };
    else if (c === ")" || c === "*" || c === "+" || c === "?" || c === "{" || c === "}" || c === "]") throw new Unsupported(`stray '${c}'`);
    else {
      // One character; a surrogate pair is one atom (it is one character under the u flag).
      const code = s.charCodeAt(this.i);
      const n = code >= 0xd800 && code <= 0xdbff && this.i + 1 < s.length ? 2 : 1;
      atom = { t: "atom", src: s.slice(this.i, this.i + n) };
      this.i += n;
    }
    return this.quantified(atom);
  }

  private groupBody(): Node {
    const body = this.disjunction();
    if (this.s[this.i] !== ")") throw new Unsupported("unclosed group");
    this.i++;
    return body;
  }

  private quantifierAhead(): boolean {
    const c = this.s[this.i];
    return c === "*" || c === "+" || c === "?" || (c === "{" && /^\{\d+(?:,\d*)?\}/.test(this.s.slice(this.i)));
  }

  private quantified(body: Node): Node {
    const s = this.s;
    let min: number;
    let max: number;
    const c = s[this.i];
    if (c === "*" || c === "+" || c === "?") {
      min = c === "+" ? 1 : 0;
      max = c === "?" ? 1 : Infinity;
      this.i++;
    } else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i));
      if (!m) throw new Unsupported("literal '{'");
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      this.i += m[0].length;
    } else return body;
    let lazy = false;
    if (s[this.i] === "?") {
      lazy = true;
      this.i++;
    }
    if (this.quantifierAhead()) throw new Unsupported("nested quantifier");
    return { t: "rep", body, min, max, lazy };
  }

  private charClass(): string {
    const s = this.s;
    const start = this.i;
    let j = this.i + 1;
    if (s[j] === "^") j++;
    for (; j < s.length; j++) {
      if (s[j] === "\\") j++;
      else if (s[j] === "]") return s.slice(start, (this.i = j + 1));
      else if (s[j] === "[") throw new Unsupported("nested class");
    }
    throw new Unsupported("unclosed class");
  }

  private escape(): string {
    const s = this.s;
    const start = this.i;
    const c = s[this.i + 1];
    if (c === undefined) throw new Unsupported("trailing backslash");
    if ((c >= "1" && c <= "9") || c === "k") throw new Unsupported("backreference");
    // Without the u flag a malformed \x, \c or \u is a literal letter and \0 before a digit an
    // octal escape: read any other way they would mean something else, so they are not followed.
    const rest = s.slice(this.i + 2);
    if (c === "0" && /^[0-9]/.test(rest)) throw new Unsupported("octal escape");
    if (c === "x" && !/^[0-9A-Fa-f]{2}/.test(rest)) throw new Unsupported("malformed \\x");
    if (c === "c" && !/^[A-Za-z]/.test(rest)) throw new Unsupported("malformed \\c");
    if (c === "u" && !/^(?:[0-9A-Fa-f]{4}|\{[0-9A-Fa-f]+\})/.test(rest)) throw new Unsupported("malformed \\u");
    let n = 2;
    if (c === "x") n = 4;
    else if (c === "c") n = 3;
    else if (c === "u") n = s[this.i + 2] === "{" ? s.indexOf("}", this.i) + 1 - this.i : 6;
    else if (c === "p" || c === "P") n = s[this.i + 2] === "{" ? s.indexOf("}", this.i) + 1 - this.i : 2;
    if (n <= 0 || start + n > s.length) throw new Unsupported("escape");
    this.i = start + n;
    return s.slice(start, this.i);
  }
}


/** The tree of `pattern`, or undefined when it uses something outside the subset followed here. */
export function parsePattern(pattern: string): Node | undefined {
  try {
    return new Parser(pattern).parse();
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}
