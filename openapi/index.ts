/**
 * Types of every HTTP surface, generated from `openapi/waymark.yaml` by openapi-typescript.
 * Servers and the SDK import these names; nothing re-declares them by hand.
 */
import type { components, paths } from './generated/waymark.js';

export type { components, paths };

type Schemas = components['schemas'];

export type Name = Schemas['Name'];
export type Placement = Schemas['Placement'];
export type GatewayStatusValue = Schemas['GatewayStatusValue'];
export type Link = Schemas['Link'];
export type ApiError = Schemas['Error'];
export type ErrorDetail = Schemas['ErrorDetail'];
export type Health = Schemas['Health'];
export type GatewayInstance = Schemas['GatewayInstance'];
export type Region = Schemas['Region'];
export type Service = Schemas['Service'];
export type EntryPoint = Schemas['EntryPoint'];
export type TopologyDocument = Schemas['TopologyDocument'];
export type RoutedGateway = Schemas['RoutedGateway'];
export type ServiceRoute = Schemas['ServiceRoute'];
export type Linkset = Schemas['Linkset'];
export type RegionDefinition = Schemas['RegionDefinition'];
export type SignedTopology = Schemas['SignedTopology'];
export type SigningKey = Schemas['SigningKey'];
export type SigningKeys = Schemas['SigningKeys'];
export type Bundle = Schemas['Bundle'];
export type BundlePayload = Schemas['BundlePayload'];
export type Deployment = Schemas['Deployment'];
export type ServiceDefinition = Schemas['ServiceDefinition'];
export type CorsPolicy = Schemas['CorsPolicy'];
export type GatewayRegistration = Schemas['GatewayRegistration'];
export type GatewayReport = Schemas['GatewayReport'];
export type CommitRecord = Schemas['CommitRecord'];
export type Resource = Schemas['Resource'];
export type ResourceRef = Schemas['ResourceRef'];
export type FieldChange = Schemas['FieldChange'];
export type ResourceUpdate = Schemas['ResourceUpdate'];
export type DiffSummary = Schemas['DiffSummary'];
export type ApplyResult = Schemas['ApplyResult'];
export type PromotionRequest = Schemas['PromotionRequest'];
export type AuditActor = Schemas['AuditActor'];
export type AuditRecord = Schemas['AuditRecord'];
export type AuditEntry = Schemas['AuditEntry'];
export type AuditList = Schemas['AuditList'];
export type RollbackRequest = Schemas['RollbackRequest'];
export type EnvironmentSummary = Schemas['EnvironmentSummary'];
export type InternalTopology = Schemas['InternalTopology'];
export type GatewayStatus = Schemas['GatewayStatus'];
export type EnvironmentStatus = Schemas['EnvironmentStatus'];
export type EnvironmentView = Schemas['EnvironmentView'];
export type RegionView = Schemas['RegionView'];
export type GatewayView = Schemas['GatewayView'];
export type CommitView = Schemas['CommitView'];
export type TopologyChange = Schemas['TopologyChange'];
export type UpstreamPolicy = Schemas['UpstreamPolicy'];
export type UpstreamPolicyUpdate = Schemas['UpstreamPolicyUpdate'];
export type InvalidRecord = Schemas['InvalidRecord'];
export type Label = Schemas['Label'];
