// Classes whose constructor is marked @internal (made by Quark, not by applications: Connection,
// Sender, Delivery, ...) lose it from the declarations under stripInternal, and a class declared
// without a constructor is constructible: `new Connection()` would type-check. This puts
// `protected constructor();` back into their declarations, so the published types say what the
// API is: such objects come from connect(), createSender(), listen() and the like.
//
// The line is appended to the line that opens the class body, so the declaration maps stay right.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** The classes in `file` (TypeScript source text) whose constructor carries an @internal tag. */
function internalConstructorClasses(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const names = [];
  for (const statement of source.statements) {
    if (!ts.isClassDeclaration(statement) || statement.name === undefined) continue;
    const constructor = statement.members.find(ts.isConstructorDeclaration);
    if (constructor !== undefined && ts.getJSDocTags(constructor).some((t) => t.tagName.text === 'internal'))
      names.push(statement.name.text);
  }
  return names;
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/**
 * For every class under `srcDir` with an @internal constructor, declares a protected one in its
 * declaration file under `declarationsDir`. Returns how many classes it closed.
 */
export function closeInternalConstructors(srcDir, declarationsDir) {
  let closed = 0;
  for (const file of sourceFiles(srcDir)) {
    const classes = internalConstructorClasses(file, readFileSync(file, 'utf8'));
    if (classes.length === 0) continue;
    const declarationFile = join(declarationsDir, relative(srcDir, file).replace(/\.ts$/, '.d.ts'));
    let text = readFileSync(declarationFile, 'utf8');
    for (const name of classes) {
      const opening = new RegExp(`^(export )?declare (abstract )?class ${name}\\b`, 'm').exec(text);
      if (opening === null)
        throw new Error(`internal-constructors: no declaration of class ${name} in ${declarationFile}`);
      const brace = text.indexOf('{', opening.index);
      const lineEnd = text.indexOf('\n', brace);
      text = `${text.slice(0, lineEnd)} protected constructor();${text.slice(lineEnd)}`;
      closed++;
    }
    writeFileSync(declarationFile, text);
  }
  return closed;
}
