// Generated from docs/openapi.yaml by scripts/gen-openapi.sh; do not edit.

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
            static files (`/`, `/index.html`, `/app.js`, `/style.css`, `/favicon.svg`; any other path
            is a plain-text 404). GET endpoints also answer HEAD. The chat itself is a
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
          responses:
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
        """#
}
