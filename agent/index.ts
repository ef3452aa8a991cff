/** Public API of the Waymark agent: a local forward proxy that routes any app's calls with the SDK. */
export { Agent, type AgentCallEvent, type AgentEvents } from './agent.js';
export { AGENT_DEFAULTS, AgentOptionsError, type AgentOptions } from './options.js';
export { parseTarget, SERVICE_HOST_SUFFIX, type AgentTarget, type TargetProblem } from './target.js';
