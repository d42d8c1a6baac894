// Inspection over the bus, as src/cli imports it. The parts live in files of their own:
// inspectionMessages.ts (the wire types), busInspector.ts (publishing), summaries.ts (what is
// published of an actor) and webSocketFeed.ts (Stately's WebSocket inspector).
export { createBusInspector, STATELY_INSPECT_VERSION, subjectToken, type BusInspector, type BusInspectorOptions } from './busInspector.js';
export type {
  InspectedActorEvent,
  InspectedEvent,
  InspectedEventEvent,
  InspectedSnapshot,
  InspectedSnapshotEvent,
  InspectionMessage,
} from './inspectionMessages.js';
export { serializeDefinition, summarizeEvent, summarizeSnapshot } from './summaries.js';
