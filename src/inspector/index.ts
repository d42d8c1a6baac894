// The inspector: inspection over the bus, statechart graphs laid out by elkjs, and the page.
// Imports hono and (in a worker, on the first chart) elkjs: keep it out of the core and of switchyard/server.
export {
  createActorRegistry,
  type ActorRecord,
  type ActorRegistry,
  type ActorRegistryOptions,
  type RegistryClock,
} from './actorRegistry.js';
export { createBusInspector, STATELY_INSPECT_VERSION, subjectToken, type BusInspector, type BusInspectorOptions } from './busInspector.js';
export type { EdgeKind, EdgeRoute, GraphEdge, GraphLayout, GraphNode, MachineGraph, NodeBox, Point, TextBox } from './chartTypes.js';
export { definitionGraph, machineGraph } from './graph.js';
export type {
  InspectedActorEvent,
  InspectedEvent,
  InspectedEventEvent,
  InspectedSnapshot,
  InspectedSnapshotEvent,
  InspectionMessage,
  PresenceMessage,
  PresenceWorker,
} from './inspectionMessages.js';
export { layoutGraph, type LayoutOptions } from './layout.js';
export { INSPECTOR_ASSETS_PATH, INSPECTOR_PAGE_PATH, inspectorExtension, isInspectorPage, mountInspector, type InspectorExtensionOptions } from './mount.js';
export { inspectorRoutes, rowOf, type InspectorRoutes, type InspectorRoutesOptions, type ThreadRow } from './routes.js';
export { serializeDefinition, summarizeEvent, summarizeSnapshot } from './summaries.js';
