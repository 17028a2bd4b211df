// Reads a TypeScript source with TypeScript's own scanner (TypeScript 7 no longer ships
// ts.preProcessFile; its scanner is exported as typescript/unstable/ast/scanner). Gives the
// module specifiers a file imports and its code with comments left out.
import { createScanner } from 'typescript/unstable/ast/scanner';
import { SyntaxKind } from 'typescript/unstable/ast';

export interface Token {
  kind: SyntaxKind;
  text: string;
}

/** Tokens that can end an expression: a `/` after one of them divides, elsewhere it starts a regex. */
const ENDS_EXPRESSION = new Set<SyntaxKind>([
  SyntaxKind.Identifier, SyntaxKind.NumericLiteral, SyntaxKind.BigIntLiteral, SyntaxKind.StringLiteral,
  SyntaxKind.CloseParenToken, SyntaxKind.CloseBracketToken, SyntaxKind.CloseBraceToken,
  SyntaxKind.NoSubstitutionTemplateLiteral, SyntaxKind.TemplateTail, SyntaxKind.RegularExpressionLiteral,
  SyntaxKind.ThisKeyword, SyntaxKind.SuperKeyword, SyntaxKind.TrueKeyword, SyntaxKind.FalseKeyword,
  SyntaxKind.NullKeyword, SyntaxKind.PlusPlusToken, SyntaxKind.MinusMinusToken,
]);

/** Every token of `source` but comments and white space, templates and regexes scanned whole. */
export function tokens(source: string): Token[] {
  const s = createScanner(true, 0, source);
  const out: Token[] = [];
  const braces: boolean[] = []; // true: the `{` opened a template substitution
  let prev: SyntaxKind = SyntaxKind.Unknown;
  for (let k = s.scan(); k !== SyntaxKind.EndOfFile; k = s.scan()) {
    if ((k === SyntaxKind.SlashToken || k === SyntaxKind.SlashEqualsToken) && !ENDS_EXPRESSION.has(prev)) {
      k = s.reScanSlashToken();
    } else if (k === SyntaxKind.TemplateHead) {
      braces.push(true);
    } else if (k === SyntaxKind.OpenBraceToken) {
      braces.push(false);
    } else if (k === SyntaxKind.CloseBraceToken && braces.pop() === true) {
      k = s.reScanTemplateToken(false);
      if (k === SyntaxKind.TemplateMiddle) braces.push(true);
    }
    out.push({ kind: k, text: s.getTokenText() });
    prev = k;
  }
  return out;
}

/** The specifiers of `import … from`, `export … from`, `import 'x'`, `import('x')` and `require('x')`. */
export function importSpecifiers(source: string): string[] {
  const t = tokens(source);
  const specs: string[] = [];
  const literal = (i: number): string | null => {
    const tok = t[i];
    return tok && (tok.kind === SyntaxKind.StringLiteral || tok.kind === SyntaxKind.NoSubstitutionTemplateLiteral)
      ? tok.text.slice(1, -1) : null;
  };
  for (let i = 0; i < t.length; i++) {
    const k = t[i]!.kind;
    const isRequire = k === SyntaxKind.Identifier && t[i]!.text === 'require';
    let spec: string | null = null;
    if (k === SyntaxKind.FromKeyword) spec = literal(i + 1);
    else if (k === SyntaxKind.ImportKeyword) spec = literal(i + 1);
    if ((k === SyntaxKind.ImportKeyword || isRequire) && t[i + 1]?.kind === SyntaxKind.OpenParenToken) spec = literal(i + 2);
    if (spec !== null) specs.push(spec);
  }
  return specs;
}

const TEXT = new Set<SyntaxKind>([
  SyntaxKind.StringLiteral, SyntaxKind.NoSubstitutionTemplateLiteral, SyntaxKind.TemplateHead,
  SyntaxKind.TemplateMiddle, SyntaxKind.TemplateTail, SyntaxKind.RegularExpressionLiteral,
]);

/**
 * The code of `source` as one line of tokens separated by single spaces, without comments, and
 * with the text of strings, templates and regexes blanked (`"…"`), so a message that names
 * Date.now() is not a call of it.
 */
export function codeWithoutComments(source: string): string {
  return tokens(source).map((tok) => (TEXT.has(tok.kind) ? '"…"' : tok.text)).join(' ');
}
