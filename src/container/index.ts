export * from './agent.js';
// The container role's bus subjects and messages live in src/bus (checker, sdk and api use them too); re-exported here for the role's users.
export * from '../bus/subjects.js';
export * from './probe.js';
export * from './runtimes/runtime.js';
export { HostProcessRuntime } from './runtimes/host-process.js';
export {
  DEFAULT_DOCKER_SOCKET,
  DockerRuntime,
  type DockerRuntimeOptions,
  type DockerLeaseContainer,
} from './runtimes/docker.js';
export * from './declared.js';
export * from './fingerprint.js';
export { EndpointProxy } from './endpoint-proxy.js';
export * from './isolation.js';
export * from './apps/index.js';
export * from './check-server.js';
export * from './simulated-gpu.js';
