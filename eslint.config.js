// ESLint (flat config) with typescript-eslint, for `npm run lint` (and CI, .ci/run). The rules:
// - the recommended sets, less what the tree deliberately does otherwise: `catch {}` where a
//   failure is expected and harmless, `any` in tests (which read JSON), `_name` for a value that
//   is there to be left out;
// - the type-aware rules that find real bugs: a promise nobody awaits or catches, a promise where
//   a value is expected (an async callback to an event emitter's `if`), an await of a value that
//   is not a promise;
// - the layout the code is written in (@stylistic): no semicolons, single quotes, `(x) =>`,
//   trailing commas on multi-line lists. Line breaks are left to the author:
//   the tree is formatted by hand, with lines up to about 200 columns. .prettierrc.json says the
//   same to an editor for new code (`npm run format -- FILE…`); Prettier is not run on the whole
//   tree, which it would rewrite in about half of its files.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import tseslint from 'typescript-eslint'

const nodeGlobals = Object.fromEntries(
  ['AbortController', 'AbortSignal', 'Buffer', 'URL', 'URLSearchParams', 'TextDecoder', 'TextEncoder', 'clearInterval', 'clearTimeout', 'console', 'fetch', 'performance', 'process', 'queueMicrotask', 'setImmediate', 'setInterval', 'setTimeout', 'structuredClone'].map((name) => [
    name,
    'readonly',
  ]),
)

export default tseslint.config(
  {ignores: ['dist/', 'tmp/', 'release/', 'completions/', 'packages/sdk/dist/', 'examples/*/dist/', 'examples/*/node_modules/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: nodeGlobals},
    linterOptions: {reportUnusedDisableDirectives: 'error'},
    plugins: {'@stylistic': stylistic},
    rules: {
      'no-empty': ['error', {allowEmptyCatch: true}],
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true, varsIgnorePattern: '^_'}],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/eol-last': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', {max: 1}],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/quotes': ['error', 'single', {allowTemplateLiterals: 'always', avoidEscape: true}],
      '@stylistic/semi': ['error', 'never'],
      '@stylistic/space-before-blocks': 'error',
    },
  },
  // CommonJS config files (dependency-cruiser reads .dependency-cruiser.cjs)
  {files: ['**/*.cjs'], languageOptions: {globals: {module: 'writable', require: 'readonly'}, sourceType: 'commonjs'}},
  {
    files: ['**/*.ts'],
    languageOptions: {parserOptions: {projectService: true, tsconfigRootDir: import.meta.dirname}},
    rules: {
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
)
