/**
 * Every place in src/ (tests excluded) where a VtorqueError or a subclass is constructed, with the
 * fault it carries: given at the site (`{ fault: 'job' }`) or fixed by its class (a constructor
 * whose super call says `fault: 'node'`). Read with the TypeScript compiler, not with regexps, so
 * a construction split over lines, an imported alias or a subclass of a subclass is still found.
 *
 * `npx tsx test/errors/scan-error-sites.ts` prints the sites as the table in error-sites.json
 * wants them (descriptions kept where a row already exists; new rows say TODO); with `--sites`,
 * every site with its line and every error class with the fault it fixes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TABLE = join(ROOT, 'test/errors/error-sites.json');
const BASE = 'VtorqueError';
const BASE_FILE = 'src/core/errors.ts';
const FAULTS = new Set(['job', 'node', 'cancel']);

export interface ErrorSite {
  /** Path from the repository root. */
  readonly file: string;
  /** The nearest named function, method or class around the construction (`<module>` at top level). */
  readonly function: string;
  /** The class constructed. */
  readonly class: string;
  /** The ErrorCode: a literal, or the expression's text when the site computes it. */
  readonly code: string;
  /**
   * The fault: 'job' | 'node' | 'cancel' when written as a literal (at the site or in the class),
   * else the expression's text (e.g. `opts.fault ?? 'node'`); null when none is given.
   */
  readonly fault: string | null;
  /** Where the fault comes from: the site's arguments, the class's constructor, or nowhere. */
  readonly faultFrom: 'site' | 'class' | null;
  /** Set when a fault expression is given but its type is not exactly a subset of Fault (e.g. may be undefined). */
  readonly faultProblem?: string;
  readonly line: number;
}

export interface TableRow {
  readonly file: string;
  readonly function: string;
  readonly class: string;
  readonly code: string;
  readonly fault: string;
  readonly description: string;
}

export interface ErrorClass {
  readonly name: string;
  readonly file: string;
  /** The class's fault when its constructor fixes it for every site, else null. */
  readonly fixedFault: string | null;
}

export interface Scan {
  readonly sites: ErrorSite[];
  readonly classes: ErrorClass[];
  /** Files read (repository-relative). */
  readonly files: string[];
}

export function sourceFiles(dir = join(ROOT, 'src')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

function compilerOptions(): ts.CompilerOptions {
  const path = join(ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(path, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT);
  return { ...parsed.options, noEmit: true };
}

/** A parameter name → the expression the caller gave for it (in the caller's own scope). */
type Scope = ReadonlyMap<string, Bound>;
interface Bound {
  readonly expr: ts.Expression | undefined;
  readonly scope: Scope;
  /** The parameter's declaration: its default applies when the caller gave nothing. */
  readonly param: ts.ParameterDeclaration;
}
interface Resolved {
  readonly expr: ts.Expression;
  /** true when the expression is written in a class's constructor (not at the site). */
  readonly inClass: boolean;
}

/** Scan `files` (absolute paths; default: every .ts file below src/ but tests) for error classes and error constructions. */
export function scanErrorSites(files = sourceFiles()): Scan {
  const program = ts.createProgram(files, compilerOptions());
  const checker = program.getTypeChecker();
  const rel = (sf: ts.SourceFile) => relative(ROOT, sf.fileName).split('\\').join('/');
  const wanted = new Set(files.map((f) => relative(ROOT, f).split('\\').join('/')));

  const classDecl = (sym: ts.Symbol | undefined): ts.ClassDeclaration | undefined => {
    let s = sym;
    if (s && s.flags & ts.SymbolFlags.Alias) s = checker.getAliasedSymbol(s);
    return s?.declarations?.find(ts.isClassDeclaration);
  };
  const parentOf = (c: ts.ClassDeclaration): ts.ClassDeclaration | undefined => {
    const ext = c.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0];
    return ext ? classDecl(checker.getSymbolAtLocation(ext.expression)) : undefined;
  };
  const isBase = (c: ts.ClassDeclaration) => c.name?.text === BASE && rel(c.getSourceFile()) === BASE_FILE;
  const isErrorClass = (c: ts.ClassDeclaration | undefined): c is ts.ClassDeclaration => {
    for (let k = c; k; k = parentOf(k)) if (isBase(k)) return true;
    return false;
  };

  const bind = (c: ts.ClassDeclaration, args: readonly ts.Expression[], scope: Scope): { ctor: ts.ConstructorDeclaration | undefined; scope: Scope } => {
    const ctor = c.members.find((m): m is ts.ConstructorDeclaration => ts.isConstructorDeclaration(m) && m.body !== undefined);
    const inner = new Map<string, Bound>();
    ctor?.parameters.forEach((p, i) => {
      if (ts.isIdentifier(p.name)) inner.set(p.name.text, { expr: args[i], scope, param: p });
    });
    return { ctor, scope: inner };
  };
  /** Follow an identifier that names a parameter back to what the caller passed (or the default). */
  const deref = (expr: ts.Expression | undefined, scope: Scope, inClass: boolean): { expr: ts.Expression | undefined; scope: Scope; inClass: boolean } => {
    let e = expr;
    let s = scope;
    let c = inClass;
    for (;;) {
      while (e && (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e))) e = e.expression;
      if (!e || !ts.isIdentifier(e) || !s.has(e.text)) return { expr: e, scope: s, inClass: c };
      const b = s.get(e.text) as Bound;
      if (b.expr === undefined) return { expr: b.param.initializer, scope: new Map(), inClass: true };
      e = b.expr;
      s = b.scope;
      c = s.size > 0; // the site's own scope is empty: an expression bound there is the site's
    }
  };
  /** A fault value: a parameter followed back to the caller; `options.fault` of a parameter looked up in what the caller passed. */
  const faultValue = (expr: ts.Expression, scope: Scope, inClass: boolean, depth = 0): Resolved | null => {
    const v = deref(expr, scope, inClass);
    if (!v.expr) return null;
    if (ts.isIdentifier(v.expr) && !v.scope.has(v.expr.text) && depth < 5) {
      // A local const (`const fault = … ? 'job' : 'node'`): its initializer is what the site decided.
      const decl = checker.getSymbolAtLocation(v.expr)?.valueDeclaration;
      if (decl && ts.isVariableDeclaration(decl) && decl.initializer && ts.isVariableDeclarationList(decl.parent) && decl.parent.flags & ts.NodeFlags.Const) {
        return faultValue(decl.initializer, v.scope, v.inClass, depth + 1);
      }
    }
    if (ts.isPropertyAccessExpression(v.expr) && v.expr.name.text === 'fault' && ts.isIdentifier(v.expr.expression) && v.scope.has(v.expr.expression.text)) {
      return faultIn(v.expr.expression, v.scope, v.inClass);
    }
    return { expr: v.expr, inClass: v.inClass };
  };
  /** The `fault` property of an options expression, following spreads and parameters. */
  const faultIn = (expr: ts.Expression | undefined, scope: Scope, inClass: boolean): Resolved | null => {
    const d = deref(expr, scope, inClass);
    if (!d.expr || !ts.isObjectLiteralExpression(d.expr)) return null;
    for (const prop of [...d.expr.properties].reverse()) {
      if (ts.isPropertyAssignment(prop) && prop.name.getText() === 'fault') return faultValue(prop.initializer, d.scope, d.inClass);
      if (ts.isShorthandPropertyAssignment(prop) && prop.name.text === 'fault') return faultValue(prop.name, d.scope, d.inClass);
      if (ts.isSpreadAssignment(prop)) {
        const inner = faultIn(prop.expression, d.scope, d.inClass);
        if (inner) return inner;
      }
    }
    return null;
  };
  /** The base class's arguments (code, message, options) for a construction of `c` with `args`. */
  const baseArgs = (c: ts.ClassDeclaration, args: readonly ts.Expression[], scope: Scope, inClass: boolean, depth = 0): { args: readonly ts.Expression[]; scope: Scope; inClass: boolean } | null => {
    if (isBase(c)) return { args, scope, inClass };
    const parent = parentOf(c);
    if (!parent || depth > 20) return null;
    const { ctor, scope: inner } = bind(c, args, scope);
    if (!ctor) return baseArgs(parent, args, scope, inClass, depth + 1); // implicit constructor: args pass through
    let superCall: ts.CallExpression | undefined;
    const visit = (n: ts.Node): void => {
      if (!superCall && ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.SuperKeyword) superCall = n;
      else ts.forEachChild(n, visit);
    };
    visit(ctor.body as ts.Block);
    if (!superCall) return null;
    return baseArgs(parent, superCall.arguments, inner, true, depth + 1);
  };

  const textOf = (r: ts.Expression) => (ts.isStringLiteral(r) || ts.isNoSubstitutionTemplateLiteral(r) ? r.text : r.getText());
  const faultProblem = (r: ts.Expression): string | undefined => {
    const t = checker.getTypeAtLocation(r);
    const parts = t.isUnion() ? t.types : [t];
    const bad = parts.filter((p) => !(p.isStringLiteral() && FAULTS.has(p.value)));
    return bad.length === 0 ? undefined : `type ${checker.typeToString(t)} is not a Fault`;
  };
  const functionName = (n: ts.Node): string => {
    for (let p = n.parent; p; p = p.parent) {
      if ((ts.isFunctionDeclaration(p) || ts.isMethodDeclaration(p) || ts.isGetAccessor(p)) && p.name) {
        const owner = ts.isClassLike(p.parent) && p.parent.name ? `${p.parent.name.text}.` : '';
        return `${owner}${p.name.getText()}`;
      }
      if (ts.isConstructorDeclaration(p) && p.parent.name) return `${p.parent.name.text}.constructor`;
      if ((ts.isArrowFunction(p) || ts.isFunctionExpression(p)) && (ts.isVariableDeclaration(p.parent) || ts.isPropertyAssignment(p.parent) || ts.isPropertyDeclaration(p.parent))) {
        return p.parent.name.getText();
      }
      if (ts.isClassDeclaration(p) && p.name) return p.name.text;
    }
    return '<module>';
  };

  const sites: ErrorSite[] = [];
  const classes = new Map<string, ErrorClass>();
  const scanned: string[] = [];
  /** A constructed type that is an error although no class declaration was found for it (a variable holding a class, a union). */
  const isErrorType = (t: ts.Type): boolean => (t.isUnion() ? t.types.some(isErrorType) : isErrorClass(classDecl(t.getSymbol())));
  for (const sf of program.getSourceFiles()) {
    const file = rel(sf);
    if (!wanted.has(file) || sf.isDeclarationFile) continue;
    scanned.push(file);
    const visit = (n: ts.Node): void => {
      if (ts.isClassDeclaration(n) && isErrorClass(n) && !isBase(n) && n.name) {
        // A class fixes the fault when a construction with no arguments at all still finds one in its constructor.
        const b = baseArgs(n, [], new Map(), true);
        const f = b ? faultIn(b.args[2], b.scope, b.inClass) : null;
        classes.set(n.name.text, { name: n.name.text, file, fixedFault: f && f.inClass && !faultProblem(f.expr) ? textOf(f.expr) : null });
      }
      if (ts.isNewExpression(n)) {
        const c = classDecl(checker.getSymbolAtLocation(n.expression));
        if (!isErrorClass(c) && isErrorType(checker.getTypeAtLocation(n))) {
          const line = sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
          sites.push({ file, function: functionName(n), class: n.expression.getText(), code: '?', fault: null, faultFrom: null, faultProblem: 'the class constructed is not known where it is written', line });
        }
        if (isErrorClass(c)) {
          const b = baseArgs(c, n.arguments ?? [], new Map(), false);
          const code = b ? deref(b.args[0], b.scope, b.inClass).expr : undefined;
          const f = b ? faultIn(b.args[2], b.scope, b.inClass) : null;
          const problem = f ? faultProblem(f.expr) : undefined;
          sites.push({
            file,
            function: functionName(n),
            class: c.name?.text ?? '<anonymous>',
            code: code ? textOf(code) : '?',
            fault: f ? textOf(f.expr) : null,
            faultFrom: f ? (f.inClass ? 'class' : 'site') : null,
            ...(problem ? { faultProblem: problem } : {}),
            line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1,
          });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { sites: sites.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line), classes: [...classes.values()], files: scanned.sort() };
}

/** The key a table row and a found site are matched on (the description is the reviewer's; the line moves). */
export function siteKey(s: { file: string; function: string; class: string; code: string; fault: string | null }): string {
  return JSON.stringify([s.file, s.function, s.class, s.code, s.fault]);
}

export function readTable(): TableRow[] {
  return existsSync(TABLE) ? (JSON.parse(readFileSync(TABLE, 'utf8')) as TableRow[]) : [];
}

/**
 * The table for `sites` that give a fault (a site without one fails the test anyway), keeping the
 * description of each row that already exists: same site, else same site with another fault (a
 * changed classification: the diff shows it, the reviewer checks the description still holds).
 */
export function tableFor(sites: readonly ErrorSite[], old: readonly TableRow[]): TableRow[] {
  const exact = new Map<string, string[]>();
  const loose = new Map<string, string[]>();
  const put = (m: Map<string, string[]>, k: string, d: string) => m.set(k, [...(m.get(k) ?? []), d]);
  for (const r of old) put(exact, siteKey(r), r.description);
  const given = sites.filter((s): s is ErrorSite & { fault: string } => s.fault !== null);
  const rows = given.map((s) => ({ file: s.file, function: s.function, class: s.class, code: s.code, fault: s.fault, description: exact.get(siteKey(s))?.shift() }));
  for (const r of old) if (exact.get(siteKey(r))?.includes(r.description)) put(loose, siteKey({ ...r, fault: null }), r.description);
  return rows.map((r) => ({ ...r, description: r.description ?? loose.get(siteKey({ ...r, fault: null }))?.shift() ?? 'TODO' }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const scan = scanErrorSites();
  if (process.argv.includes('--sites')) {
    for (const s of scan.sites) console.log(`${s.file}:${s.line} ${s.function} ${s.class} ${s.code} fault=${s.fault ?? 'MISSING'}${s.faultFrom === 'class' ? ' (class)' : ''}${s.faultProblem ? ` !! ${s.faultProblem}` : ''}`);
    for (const c of scan.classes) console.log(`class ${c.name} (${c.file}) fixed=${c.fixedFault ?? '-'}`);
  } else {
    process.stdout.write(`${JSON.stringify(tableFor(scan.sites, readTable()), null, 2)}\n`);
  }
}
