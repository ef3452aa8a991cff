/** The topology types, as generated from the contract (`openapi/waymark.yaml`); types only, no runtime code. */
export type {
  CommitRecord,
  Deployment,
  GatewayInstance,
  GatewayRegistration,
  GatewayReport,
  GatewayStatusValue,
  Link,
  Name,
  Placement,
  Region,
  RegionDefinition,
  RoutedGateway,
  Service,
  ServiceDefinition,
  ServiceRoute,
  TopologyDocument,
} from '../openapi/index.js';
