// Generated from docs/openapi.yaml by scripts/gen-openapi.sh; do not edit.
// Over 400 lines: it is the whole document, one string.

/// The OpenAPI document of chatd's HTTP endpoints, served at `/api/openapi.yaml`.
enum OpenAPIDocument {
    static let path = "/api/openapi.yaml"
    static let yaml = #"""
        openapi: 3.1.0
        info:
          title: chatd HTTP API
          version: "1"
          summary: The plain-HTTP side of chatd, the WebSocket chat daemon.
          description: >-
            Every HTTP endpoint chatd answers on its listeners (`server.listen`), but for the page's
            static files (every file of the web folder at `/NAME`, `/` the chat page and `/admin` the
            admin console; any other path is a plain-text 404, and any other path under `/api/admin/`
            a JSON one). GET endpoints also answer HEAD. The chat itself is a
            WebSocket at `/chat` (docs/protocol.md describes its events); this document describes only
            how the upgrade request is answered. chatd serves this document at `/api/openapi.yaml`.
            Prometheus metrics are on a listener of their own (`metrics.listen`, `/metrics`), not here.
          license:
            name: MIT
        servers:
          - url: http://localhost:8080
            description: the example configuration (etc/chatd.toml); behind nginx, https://chat.example.com
        paths:
          /api/publish:
            post:
              operationId: publish
              summary: Publish an event to a room as the server
              description: >-
                Stores a message (a text, a JSON payload, or both) in the room's history and sends it to
                every member as a `message` event. Answered once the message is durable. The key is one
                of `[api.keys.NAME]`; each wrong key costs the client address a token of
                `limits.upgrades_per_minute_per_ip`, and with none left every request from there is 429.
                With `Idempotency-Key`, a retry of an event this key already published to the room stores
                nothing and is answered with the first answer again, marked `Idempotent-Replayed: true`.
              security:
                - apiKey: []
              parameters:
                - name: Idempotency-Key
                  in: header
                  required: false
                  description: >-
                    The client's id for this event, 1 to 128 printable ASCII characters (else 400). A request
                    whose key this API key already used in the room (while that event is in history) is
                    answered 200 with the first body, and nothing is stored or sent.
                  schema:
                    type: string
                    minLength: 1
                    maxLength: 128
                    pattern: "^[ -~]+$"
                  example: deploy-42
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      $ref: "#/components/schemas/PublishRequest"
                    example:
                      room: dashboard
                      text: deploy finished
                      data: {build: 42}
              responses:
                "200":
                  description: Stored and sent; or, for a repeated `Idempotency-Key`, the first answer again.
                  headers:
                    Idempotent-Replayed:
                      description: Present, as `true`, when the answer is the first one of this `Idempotency-Key` again.
                      schema:
                        type: string
                        const: "true"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Published"
                "400":
                  description: "The body is not a JSON object, `room` is not a room name, `text` is not a string or is too long, neither `text` nor `data` was given, or `Idempotency-Key` is not 1-128 printable ASCII characters."
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "401":
                  description: The key is missing or not one of `[api.keys]`.
                  headers:
                    WWW-Authenticate:
                      required: true
                      schema:
                        type: string
                        const: Bearer
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "403":
                  description: >-
                    The key may not publish to this room (`api.keys.NAME.rooms`), or the key is banned
                    (`chatctl ban server:NAME`; `code` is `banned`).
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "404":
                  description: The publish API is off (no `[api.keys]`), or the room has no rule, no members and no history.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "405":
                  description: A method other than POST.
                  headers:
                    Allow:
                      required: true
                      schema:
                        type: string
                        const: POST
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "413":
                  description: The body is larger than `api.max_body_bytes`.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "429":
                  description: Too many wrong keys from this address.
                  headers:
                    Retry-After:
                      required: true
                      schema:
                        type: string
                        pattern: "^[0-9]+$"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
                "503":
                  description: The history store could not take the message (a cluster's database is down); nothing was published.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Error"
          /api/admin/status:
            get:
              operationId: adminStatus
              summary: The server's state (as `chatctl status`)
              description: >-
                Version, uptime, connections, rooms in use, message counters, the configuration generation
                and the last reload's outcome, and the cluster node's view when chatd runs in a cluster.
                Takes no parameters (any is a 400).
              security:
                - adminToken: []
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminStatus"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/rooms:
            get:
              operationId: adminRooms
              summary: Rooms with their online members and last sequence number
              description: >-
                Every room this node holds, by name. The console derives each room's message rate from the
                change of `lastSeq` between two polls.
              security:
                - adminToken: []
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminRooms"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/connections:
            get:
              operationId: adminConnections
              summary: Open WebSocket connections (as `chatctl connections`)
              description: >-
                The longest-connected first, at most 1000; `truncated` says when there were more (`total`).
              security:
                - adminToken: []
              parameters:
                - name: room
                  in: query
                  required: false
                  description: Only the connections in this room; empty is every room.
                  schema:
                    type: string
                    pattern: "^[A-Za-z0-9_-]{0,32}$"
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminConnections"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/audit:
            get:
              operationId: adminAudit
              summary: The moderation audit log, newest first, filtered
              description: >-
                The audit log that `chatctl audit` reads: of its newest 10,000 entries, those matching every
                filter given, newest first, at most `limit`. Unknown parameters are a 400.
              security:
                - adminToken: []
              parameters:
                - name: limit
                  in: query
                  required: false
                  description: At most this many entries (default 100).
                  schema:
                    type: integer
                    minimum: 1
                    maximum: 500
                - name: action
                  in: query
                  required: false
                  description: "Only this action: kick, delete, edit, mute, unmute, ban, unban, purge-user."
                  schema:
                    type: string
                - name: actor
                  in: query
                  required: false
                  description: Only entries whose actor contains this text (`admin:alice` finds `admin:alice (console)`).
                  schema:
                    type: string
                - name: room
                  in: query
                  required: false
                  description: Only entries about messages of this room (their target starts with `ROOM#`).
                  schema:
                    type: string
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminAudit"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "503":
                  $ref: "#/components/responses/AdminUnavailable"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/webhooks:
            get:
              operationId: adminWebhooks
              summary: Webhook delivery state (as `chatctl webhooks`)
              description: >-
                Every hook configured or with events in the outbox: pending and failed counts (every node's),
                and this node's last success and failure.
              security:
                - adminToken: []
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminWebhooks"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "503":
                  $ref: "#/components/responses/AdminUnavailable"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/series:
            get:
              operationId: adminSeries
              summary: Recent samples of chatd's own counters
              description: >-
                Connections and the message counters, sampled every 5 seconds by chatd's housekeeping
                timer into a fixed ring of the last 120 samples (10 minutes), oldest first; the console's
                charts.
              security:
                - adminToken: []
              responses:
                "200":
                  description: The report.
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminSeries"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "405":
                  $ref: "#/components/responses/AdminReadOnly"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
          /api/admin/actions:
            post:
              operationId: adminAction
              summary: Run a moderation action as chatctl would
              description: >-
                The body is a control request (docs/operations.md, "Control socket") of one of the
                commands kick, delete, mute, unmute, ban, unban, purge-user and webhooks-retry; any other
                command, or a field the actions do not take, is a 400. It runs through the control
                socket's own dispatcher, with the actor `admin:NAME (console)` in the audit log. The
                answer is the control response. Besides the admin token, the body must be declared
                `application/json` (else 415), and a request that carries `Origin` must come from one of
                `auth.allowed_origins` (else 403); no CORS header is ever sent.
              security:
                - adminToken: []
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      $ref: "#/components/schemas/AdminAction"
                    example:
                      command: mute
                      user: credential:bob
                      seconds: 3600
                      reason: spam
              responses:
                "200":
                  description: Done; the control response (`kicked`, `muted`, `banned`, `deleted`, `retried`, ...).
                  headers:
                    Cache-Control:
                      $ref: "#/components/headers/NoStore"
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/ControlResponse"
                "400":
                  $ref: "#/components/responses/AdminBadRequest"
                "401":
                  $ref: "#/components/responses/AdminUnauthorized"
                "403":
                  $ref: "#/components/responses/AdminForbidden"
                "404":
                  description: Nothing matched (no such connection, user or message; `code` is `not_found`).
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminError"
                "405":
                  description: A method other than POST.
                  headers:
                    Allow:
                      required: true
                      schema:
                        type: string
                        const: POST
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminError"
                "413":
                  description: The body is larger than `api.max_body_bytes`.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminError"
                "415":
                  description: The body is not declared `application/json`.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/AdminError"
                "429":
                  $ref: "#/components/responses/AdminTooMany"
                "503":
                  $ref: "#/components/responses/AdminUnavailable"
          /healthz:
            get:
              operationId: health
              summary: Liveness, with the number of open WebSocket connections
              responses:
                "200":
                  description: chatd is running.
                  headers:
                    Cache-Control:
                      required: true
                      schema:
                        type: string
                        const: no-store
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Health"
                "405":
                  $ref: "#/components/responses/ReadOnly"
          /readyz:
            get:
              operationId: ready
              summary: Readiness for new connections
              description: 200 while chatd takes new connections; 503 before its listeners are up and once a stop has begun draining.
              responses:
                "200":
                  description: Taking connections.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Ready"
                "503":
                  description: Starting or draining.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Ready"
                "405":
                  $ref: "#/components/responses/ReadOnly"
          /api/openapi.yaml:
            get:
              operationId: openapi
              summary: This document
              responses:
                "200":
                  description: The OpenAPI document, as docs/openapi.yaml has it.
                  content:
                    application/yaml:
                      schema:
                        type: string
                "405":
                  $ref: "#/components/responses/ReadOnly"
          /chat:
            get:
              operationId: chat
              summary: The WebSocket upgrade
              description: >-
                A WebSocket (RFC 6455) upgrade; docs/protocol.md describes the events that follow. The
                token may instead come as `Authorization: Bearer TOKEN` or as the subprotocols
                `chatd, bearer.TOKEN`. A refused upgrade is a plain-text answer and the connection is
                closed after it.
              parameters:
                - name: token
                  in: query
                  schema:
                    type: string
                - name: name
                  in: query
                  schema:
                    type: string
                - name: room
                  in: query
                  schema:
                    type: string
                - name: since
                  in: query
                  schema:
                    type: string
              responses:
                "101":
                  description: Switching to WebSocket.
                "400":
                  $ref: "#/components/responses/Refused"
                "401":
                  $ref: "#/components/responses/Refused"
                "403":
                  $ref: "#/components/responses/Refused"
                "404":
                  $ref: "#/components/responses/Refused"
                "405":
                  description: A method other than GET.
                  headers:
                    Allow:
                      required: true
                      schema:
                        type: string
                        const: GET
                  content:
                    text/plain:
                      schema:
                        type: string
                "426":
                  description: "A GET without `Upgrade: websocket`."
                  headers:
                    Upgrade:
                      required: true
                      schema:
                        type: string
                        const: websocket
                  content:
                    text/plain:
                      schema:
                        type: string
                "429":
                  $ref: "#/components/responses/Refused"
                "503":
                  $ref: "#/components/responses/Refused"
        components:
          securitySchemes:
            apiKey:
              type: http
              scheme: bearer
              description: One of `[api.keys.NAME]` (chatd keeps only its SHA-256).
            adminToken:
              type: http
              scheme: bearer
              description: >-
                A credential whose role is admin (`[auth.credentials.NAME]` with `role = "admin"`, or a
                JWT with the role claim admin), checked as the WebSocket upgrade checks it. Only the
                Authorization header is read: never a cookie or the query.
          headers:
            NoStore:
              required: true
              schema:
                type: string
                const: no-store
          responses:
            AdminBadRequest:
              description: A parameter or field that is not known or not valid, or an action that is not an admin action.
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            AdminUnauthorized:
              description: No token, or one that is not valid (wrong, expired).
              headers:
                WWW-Authenticate:
                  required: true
                  schema:
                    type: string
                    const: Bearer
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            AdminForbidden:
              description: The credential's role is not admin, or a POST's Origin is not one of `auth.allowed_origins`.
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            AdminReadOnly:
              description: A method other than GET or HEAD.
              headers:
                Allow:
                  required: true
                  schema:
                    type: string
                    const: GET, HEAD
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            AdminTooMany:
              description: >-
                Too many wrong tokens from this address (they share the upgrades' and the publish API's
                attempt bucket, `limits.upgrades_per_minute_per_ip`). A request without a token is a 401, never this.
              headers:
                Retry-After:
                  required: true
                  schema:
                    type: string
                    pattern: "^[0-9]+$"
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            AdminUnavailable:
              description: The store (audit log, webhook outbox) could not be read, or the action could not be carried out.
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/AdminError"
            ReadOnly:
              description: A method other than GET or HEAD.
              headers:
                Allow:
                  required: true
                  schema:
                    type: string
                    const: GET, HEAD
              content:
                text/plain:
                  schema:
                    type: string
            Refused:
              description: >-
                The upgrade is refused; the text says why (400 a malformed handshake; 401 a missing,
                wrong or expired credential; 403 an Origin or a room not allowed, or a banned identity;
                429 too many attempts from the address; 503 the server full or stopping).
              content:
                text/plain:
                  schema:
                    type: string
          schemas:
            PublishRequest:
              type: object
              required: [room]
              properties:
                room:
                  type: string
                  pattern: "^[A-Za-z0-9_-]{1,32}$"
                text:
                  type: [string, "null"]
                  description: >-
                    At most `limits.max_message_chars` UTF-16 units after bidirectional controls and
                    other control characters are removed and it is trimmed; blank counts as none.
                data:
                  description: Any JSON value, sent to members as the message's `data`.
              description: A text, a JSON payload, or both; fields not named here are ignored.
              anyOf:
                - required: [text]
                  properties:
                    text:
                      type: string
                      minLength: 1
                - required: [data]
                  properties:
                    data:
                      not:
                        type: "null"
            Published:
              type: object
              required: [ok, room, seq, id]
              properties:
                ok:
                  type: boolean
                  const: true
                room:
                  type: string
                seq:
                  type: integer
                  minimum: 1
                  description: The message's position in its room.
                id:
                  type: string
                  format: uuid
            Error:
              type: object
              required: [error]
              properties:
                error:
                  type: string
                  description: Why, in words.
                code:
                  type: string
                  enum: [banned]
                  description: Set on refusals a client tells apart by more than the status.
            Health:
              type: object
              required: [ok, clients]
              properties:
                ok:
                  type: boolean
                  const: true
                clients:
                  type: integer
                  minimum: 0
                  description: Open WebSocket connections (chat and echo).
            Ready:
              type: object
              required: [ready]
              properties:
                ready:
                  type: boolean
            AdminError:
              type: object
              required: [error]
              properties:
                error:
                  type: string
                  description: Why, in words.
                code:
                  type: string
                  description: The control protocol's error code, for an action the dispatcher refused (`not_found`, `bad_request`, ...).
            ReloadResult:
              type: object
              required: [ok, at, generation, applied, needsRestart, revoked]
              properties:
                ok: {type: boolean}
                at: {type: number, description: Seconds since 1970.}
                generation: {type: integer}
                error: {type: string}
                applied: {type: array, items: {type: string}}
                needsRestart: {type: array, items: {type: string}}
                revoked: {type: integer, minimum: 0}
            AdminStatus:
              type: object
              required: [version, pid, uptimeSeconds, configGeneration, connections, rooms, messagesIn, messagesOut, ready]
              properties:
                version: {type: string}
                pid: {type: integer}
                uptimeSeconds: {type: number}
                configPath: {type: string}
                configGeneration: {type: integer, minimum: 1}
                connections: {type: integer, minimum: 0}
                rooms: {type: integer, minimum: 0, description: Rooms with members.}
                messagesIn: {type: integer, minimum: 0}
                messagesOut: {type: integer, minimum: 0}
                ready: {type: boolean}
                lastReload:
                  $ref: "#/components/schemas/ReloadResult"
                cluster:
                  type: object
                  required: [node, database, databaseConnected, listening, reconnects, peers]
                  properties:
                    node: {type: string}
                    database: {type: string, description: The database URL without its password.}
                    databaseConnected: {type: boolean}
                    listening: {type: boolean}
                    lagSeconds: {type: number}
                    reconnects: {type: integer}
                    peers: {type: array, items: {type: string}}
            AdminRooms:
              type: object
              required: [rooms]
              properties:
                rooms:
                  type: array
                  items:
                    type: object
                    required: [name, online, lastSeq]
                    properties:
                      name: {type: string}
                      online: {type: integer, minimum: 0}
                      lastSeq: {type: integer, minimum: 0}
            AdminConnections:
              type: object
              required: [connections, total, truncated]
              properties:
                connections:
                  type: array
                  maxItems: 1000
                  items:
                    type: object
                    required: [id, name, room, address, connectedSeconds]
                    properties:
                      id: {type: string, description: What a kick by connection takes.}
                      name: {type: string}
                      user: {type: string, description: "The identity (`credential:alice`, `guest:NAME`'s token key, ...): what mute, ban and kick by user take."}
                      room: {type: string}
                      address: {type: string}
                      connectedSeconds: {type: number}
                total: {type: integer, minimum: 0}
                truncated: {type: boolean}
            AdminAudit:
              type: object
              required: [entries, searched]
              properties:
                entries:
                  type: array
                  maxItems: 500
                  items:
                    type: object
                    required: [at, actor, action, target, reason]
                    properties:
                      at: {type: number, description: Seconds since 1970.}
                      actor: {type: string}
                      action: {type: string}
                      target: {type: string}
                      reason: {type: string}
                searched: {type: integer, minimum: 0, description: How many of the newest entries were searched.}
            AdminWebhooks:
              type: object
              required: [webhooks]
              properties:
                webhooks:
                  type: array
                  items:
                    type: object
                    required: [name, configured, pending, failed]
                    properties:
                      name: {type: string}
                      configured: {type: boolean}
                      url: {type: string}
                      pending: {type: integer, minimum: 0}
                      failed: {type: integer, minimum: 0}
                      oldestPendingAt: {type: number}
                      lastSuccessAt: {type: number}
                      lastFailureAt: {type: number}
                      lastError: {type: string}
            AdminSeries:
              type: object
              required: [intervalSeconds, capacity, samples]
              properties:
                intervalSeconds: {type: number}
                capacity: {type: integer}
                samples:
                  type: array
                  maxItems: 120
                  items:
                    type: object
                    required: [at, connections, messagesIn, messagesOut]
                    properties:
                      at: {type: number, description: Seconds since 1970.}
                      connections: {type: integer, minimum: 0}
                      messagesIn: {type: integer, minimum: 0, description: Messages taken in since start.}
                      messagesOut: {type: integer, minimum: 0, description: Frames sent since start.}
                      inPerSecond: {type: number, minimum: 0, description: Since the previous sample; absent on the first.}
                      outPerSecond: {type: number, minimum: 0}
            AdminAction:
              type: object
              required: [command]
              additionalProperties: false
              description: A field given as null is taken as absent; fields the command does not use are ignored.
              properties:
                v: {const: 1, description: The control protocol's version (implied when absent).}
                command:
                  type: string
                  enum: [kick, delete, mute, unmute, ban, unban, purge-user, webhooks-retry]
                room: {type: [string, "null"], description: "delete: the message's room."}
                connection: {type: [string, "null"], description: "kick: one connection by id..."}
                user: {type: [string, "null"], description: "...or every connection of this identity; mute, unmute, ban, unban, purge-user: whom."}
                reason: {type: [string, "null"], description: For the audit log (and a kick's close frame).}
                seq: {type: [integer, "null"], description: "delete: the message's sequence number (a negative one is a 400)."}
                seconds: {type: [number, "null"], description: "mute, ban: how long, a positive number of seconds (else 400); absent, or 1e10 (317 years) or more, until lifted."}
                hook: {type: [string, "null"], description: "webhooks-retry: the hook."}
            ControlResponse:
              type: object
              required: [v, ok]
              properties:
                v: {type: integer}
                ok: {type: boolean, const: true}
                kicked: {type: integer}
                kickedElsewhere: {type: boolean}
                deleted: {type: integer}
                muted: {type: string}
                banned: {type: string}
                matched: {type: integer}
                retried: {type: integer}
        """#
}
