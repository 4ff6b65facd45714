// The folder rules of Ferry, checked by `npm test` (dependency-cruiser). Each rule's name is what a violation prints;
// docs/design.md ("Where things live") explains why each holds.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-imports-nothing-of-ours',
      comment: 'protocol/ is what every part shares: it may import only protocol/ itself.',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(extension|relay-worker|signaling-server|exit-server|native-helper|harness|cli|bench|tests|scripts)/' },
    },
    {
      name: 'protocol-is-runtime-neutral',
      comment: 'protocol/ runs unchanged in browsers and Node: no node: modules and no npm package but @noble/*, except in protocol/adapters/.',
      severity: 'error',
      from: { path: '^protocol/', pathNot: '^protocol/adapters/' },
      to: { pathNot: '^(protocol/|node_modules/@noble/)' },
    },
    {
      name: 'relay-worker-core-is-runtime-neutral',
      comment:
        'The volunteer core runs in the extension, a tab, a widget and Node: only its adapters (node.ts, browser.ts), its command line (main.ts), its metrics server (node-metrics.ts) and the Chromium it runs in by default (chromium-engine.ts) know their runtime.',
      severity: 'error',
      from: { path: '^relay-worker/', pathNot: '^relay-worker/(node|node-metrics|chromium-engine|browser|browser-history-store|main)[.]ts$' },
      to: { pathNot: '^(relay-worker/|protocol/)' },
    },
    {
      name: 'relay-worker-never-imports-extension',
      comment: 'The volunteer core serves every shell; the extension is only one of them.',
      severity: 'error',
      from: { path: '^relay-worker/' },
      to: { path: '^extension/' },
    },
    {
      name: 'servers-never-import-each-other',
      comment: 'The broker, the exit and the helper are separate programs that meet only in protocol/.',
      severity: 'error',
      from: { path: '^(signaling-server|exit-server|native-helper)/' },
      to: { path: '^(signaling-server|exit-server|native-helper)/', pathNot: '^$1/' },
    },
    {
      name: 'parts-never-import-tooling',
      comment: 'The shipped parts never depend on the harness, the CLI, the benchmarks or the tests.',
      severity: 'error',
      from: { path: '^(protocol|relay-worker|signaling-server|exit-server|native-helper|extension|web)/' },
      to: { path: '^(harness|cli|bench|tests|scripts)/' },
    },
    {
      name: 'only-tests-import-extension',
      comment: 'Nothing outside extension/ imports extension/ (tests excepted): what others read of it is a contract in protocol/.',
      severity: 'error',
      from: { pathNot: '^(extension|tests)/' },
      to: { path: '^extension/' },
    },
    {
      name: 'extension-uses-no-node',
      comment: 'The extension runs in the browser: no node: modules.',
      severity: 'error',
      from: { path: '^extension/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'web-uses-no-node',
      comment: 'The tab page, the widget and its embed script run in the browser: no node: modules.',
      severity: 'error',
      from: { path: '^web/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'nothing-imports-tests',
      comment: 'Test code is not a library: the harness, the benchmarks and the parts never load it.',
      severity: 'error',
      from: { pathNot: '^tests/' },
      to: { path: '^tests/' },
    },
    {
      name: 'harness-and-bench-never-import-cli',
      comment: 'cli/ loads the benchmarks and the harness; they must not load it back.',
      severity: 'error',
      from: { path: '^(harness|bench)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes load order matter and the layers unclear.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve to a file or an installed package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|test-results)/' },
    // Type-only imports count too: a type from extension/ in the harness is still a dependency on extension/.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
