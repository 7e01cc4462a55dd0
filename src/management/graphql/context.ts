import type { ServerResponse } from 'node:http';
import type { Logger } from 'winston';
import type { DefinitionStats } from '../../api/types';
import type { EngineAccess } from '../../core/observation/engine-access';
import type { TaskService } from '../../core/service/task-service';
import type { Principal } from '../auth/principal';
import type { EventHub } from '../events/event-hub';

/** What the resolvers share: the node's TaskService and engine access, the event hub, the logger. */
export interface ManagementDeps {
  service: TaskService;
  access: EngineAccess;
  hub: EventHub;
  logger: Logger;
}

/** The part of the GraphQL context the resolvers read (see createManagementSchema's `principal`). */
export interface ManagementContext {
  principal?: Principal | null;
  /** the HTTP response, when served over node:http (a dropped subscriber's connection is closed) */
  res?: ServerResponse;
}

/** What an operation gets: its caller, and once per request what several fields read. */
export class Call {
  private statsRead?: Promise<DefinitionStats[]>;

  constructor(
    readonly principal: Principal,
    readonly deps: ManagementDeps,
    /** the HTTP response of the request, when known */
    readonly res?: ServerResponse,
  ) {}

  /** TaskService.stats(), read once per request */
  stats(): Promise<DefinitionStats[]> {
    return (this.statsRead ??= this.deps.service.stats());
  }

  get isAdmin(): boolean {
    return this.principal.role === 'admin';
  }
}
