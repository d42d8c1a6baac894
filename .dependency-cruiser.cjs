// The architecture of switchyard, as rules `npm run lint` enforces (dependency-cruiser).
//
// Layers, lowest first. A module may import from its own layer and from any layer below it,
// never from a layer above. docs/ARCHITECTURE.md draws the same picture.
const layers = [
  { name: 'base', paths: ['^src/(errors|clock|logger)\\.ts$'], what: 'error helpers, the clock, the logger: what every layer needs' },
  { name: 'thread', paths: ['^src/thread/'], what: 'event schemas, the reducer, derived status (the only state)' },
  { name: 'ports', paths: ['^src/store/', '^src/bus/'], what: 'the ThreadStore and Bus interfaces and their embedded implementations' },
  { name: 'context', paths: ['^src/context/'], what: 'rendering a thread into the context window, redaction, budget' },
  { name: 'model', paths: ['^src/model/'], what: 'the Model interface, OpenAI-compatible and scripted models' },
  { name: 'agent', paths: ['^src/agent/', '^src/pipeline/'], what: 'agent and pipeline definitions, tools, the pure steps over a thread' },
  { name: 'machines', paths: ['^machines/'], what: 'the XState machines: the micro-agent, the pipeline, the supervisor' },
  { name: 'runtime', paths: ['^src/runtime/'], what: 'launch, pause, resume, cancel; actors started from their thread' },
  { name: 'surfaces', paths: ['^src/surface/', '^src/server/', '^src/nats/', '^src/inspector/', '^src/testing/', '^src/index\\.ts$'], what: 'HTTP, NATS, the inspector, the testing kit, the public entry point' },
  { name: 'cli', paths: ['^src/cli/'], what: 'the command line: loads a project, starts a backend and the surfaces' },
  { name: 'examples', paths: ['^agents/', '^tools/'], what: 'the bundled demo agents and their tools, written against the public API' },
];

const anyOf = (paths) => paths.join('|');
const above = (index) => layers.slice(index + 1).flatMap((layer) => layer.paths);

const upward = layers.slice(0, -1).map((layer, index) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} (${layer.what}) may not import from a layer above it: ${layers.slice(index + 1).map((l) => l.name).join(', ')}.`,
  severity: 'error',
  from: { path: anyOf(layer.paths) },
  to: { path: anyOf(above(index)) },
}));

// The bundled examples are the one exception the CLI makes: it serves them when a project has no config.
upward.find((rule) => rule.name === 'no-upward-from-cli').from.pathNot = '^src/cli/bundled\\.ts$';

// Surfaces are peers that do not know each other, except where one extends another.
const surfacePeers = [
  { from: '^src/surface/', not: '^src/(server|nats|inspector|testing)/', why: 'transport-agnostic surface code runs over any Bus' },
  { from: '^src/server/', not: '^src/(surface|nats|inspector|testing)/', why: 'the HTTP app mounts the inspector by injection (HttpOptions.extensions), never by import' },
  { from: '^src/nats/', not: '^src/(server|inspector|testing)/', why: 'src/nats speaks @nats-io and implements Bus and ThreadStore; nothing more' },
  { from: '^src/inspector/', not: '^src/(nats|testing)/', why: 'the inspector extends the HTTP app and reads any Bus' },
  { from: '^src/testing/', not: '^src/(server|nats|inspector|surface)/', why: 'the testing kit is for unit tests of a user\'s agents, no transport' },
].map(({ from, not, why }) => ({
  name: `surface-peers-${from.replace(/[^a-z]/g, '')}`,
  comment: why,
  severity: 'error',
  from: { path: from },
  to: { path: not },
}));

module.exports = {
  forbidden: [
    ...upward,
    ...surfacePeers,
    {
      name: 'nats-only-in-src-nats',
      comment: 'Only src/nats speaks @nats-io; everything else uses the Bus and ThreadStore interfaces.',
      severity: 'error',
      from: { pathNot: '^src/nats/' },
      to: { path: '@nats-io/' },
    },
    {
      name: 'http-only-in-surfaces',
      comment: 'The core imports nothing from HTTP: hono lives in the server and the inspector.',
      severity: 'error',
      from: { path: anyOf(layers.slice(0, 8).flatMap((layer) => layer.paths)) },
      to: { path: '(^|/)(hono|@hono/node-server)(/|$)' },
    },
    {
      name: 'no-circular',
      comment: 'Modules that import each other cannot be read, or loaded, one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-dev-dependency',
      comment: 'Shipped code may not import a devDependency: users will not have it (unless it is a peer too, as zod is: the project installs it).',
      severity: 'error',
      from: { path: '^(src|machines|agents|tools)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
