// What src/cli imports of inspection, kept under its old name so the CLI needs no change. The parts
// live in files of their own: inspectionMessages.ts (the wire types), busInspector.ts (publishing),
// summaries.ts (what is published of an actor) and webSocketFeed.ts (Stately's WebSocket inspector);
// everything public is exported by index.ts (`switchyard/inspector`).
export { createBusInspector, type BusInspector, type BusInspectorOptions } from './busInspector.js';
