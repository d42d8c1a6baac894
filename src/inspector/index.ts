// The inspector: inspection over the bus, statechart graphs and the page. Imports hono; keep it out of the core.
export {
  createActorRegistry,
  type ActorRecord,
  type ActorRegistry,
  type ActorRegistryOptions,
} from './actorRegistry.js';
export { definitionGraph, machineGraph, type EdgeKind, type GraphEdge, type GraphNode, type MachineGraph } from './graph.js';
export {
  createBusInspector,
  serializeDefinition,
  STATELY_INSPECT_VERSION,
  subjectToken,
  summarizeEvent,
  summarizeSnapshot,
  type BusInspector,
  type BusInspectorOptions,
  type InspectedActorEvent,
  type InspectedEvent,
  type InspectedEventEvent,
  type InspectedSnapshot,
  type InspectedSnapshotEvent,
  type InspectionMessage,
} from './inspection.js';
export { layoutGraph, type EdgePath, type GraphLayout, type LayoutOptions, type NodeBox } from './layout.js';
export { INSPECTOR_PAGE_PATH, inspectorExtension, isInspectorPage, mountInspector, type InspectorExtensionOptions } from './mount.js';
export { inspectorPage } from './page.js';
export { inspectorRoutes, rowOf, type InspectorRoutes, type InspectorRoutesOptions, type ThreadRow } from './routes.js';
