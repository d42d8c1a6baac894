// What `npx switchyard serve` and `npx switchyard worker` run in this folder (and the Docker image
// built from it: docker-compose.project.yml). TypeScript, loaded without a build step.
import { defineConfig } from 'switchyard';
import { refunds } from './agents/refunds/index.js';
import { projectModel } from './model.js';

export default defineConfig({
  agents: [refunds],
  model: projectModel(),
  // `serve --demo` launches it; `serve` prints it as a command to try.
  demo: { agent: 'refunds', input: 'Please refund $60 on order A-1001, it arrived broken.' },
});
