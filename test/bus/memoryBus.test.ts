import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { runBusConformance } from './bus.conformance.js';

runBusConformance('memory', async (options) => {
  const bus = createMemoryBus(options);
  return { bus, cleanup: () => bus.close() };
});
