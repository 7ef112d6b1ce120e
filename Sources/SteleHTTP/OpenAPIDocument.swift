/// Stele's HTTP API as an OpenAPI 3.1 document, served at `/openapi.json`. Kept next to the
/// routes it describes; `scripts/openapi-test.sh` checks the live server against it.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "Stele HTTP API",
        "version": "0.1.0",
        "description": "Stele's HTTP API, served by `stele serve`: append to and read event streams (events in CloudEvents JSON), page through and long-poll categories, follow streams, categories and views with Server-Sent Events, store and load snapshots, describe the broker's topics and consumer groups, inspect, rebuild and query materialized views, and scrape metrics. Every error is an RFC 9457 problem (`application/problem+json`).\n\nRequests naming a host other than an IP address, `localhost` or one given with `--http-allowed-hosts` get 403 (DNS rebinding), as do writes carrying a foreign `Origin` or `Sec-Fetch-Site: cross-site`; no CORS headers are sent."
      },
      "servers": [
        {
          "url": "http://127.0.0.1:8080"
        }
      ],
      "tags": [
        {
          "name": "server"
        },
        {
          "name": "streams"
        },
        {
          "name": "snapshots"
        },
        {
          "name": "categories"
        },
        {
          "name": "subscriptions"
        },
        {
          "name": "topics"
        },
        {
          "name": "groups"
        },
        {
          "name": "views"
        }
      ],
      "paths": {
        "/health": {
          "get": {
            "operationId": "getHealth",
            "summary": "Liveness check",
            "tags": [
              "server"
            ],
            "responses": {
              "200": {
                "description": "The server is up.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Health"
                    }
                  }
                }
              }
            }
          }
        },
        "/metrics": {
          "get": {
            "operationId": "getMetrics",
            "summary": "Prometheus metrics",
            "tags": [
              "server"
            ],
            "description": "Counters and latencies recorded through swift-metrics (appends, fetches, HTTP requests), and, read when scraped, every partition's offsets and size, every consumer group's lag, every view's lag, parked events and running state, and the number of open event-stream responses. Served only when the server was started with a metrics registry; otherwise the route does not exist (404, no body).",
            "responses": {
              "200": {
                "description": "Prometheus text exposition format 0.0.4.",
                "content": {
                  "text/plain": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "404": {
                "description": "Metrics are not enabled on this server."
              }
            }
          }
        },
        "/openapi.json": {
          "get": {
            "operationId": "getOpenAPIDocument",
            "summary": "This OpenAPI document",
            "tags": [
              "server"
            ],
            "responses": {
              "200": {
                "description": "The OpenAPI 3.1 document describing this API.",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object"
                    }
                  }
                }
              }
            }
          }
        },
        "/streams/{category}/{id}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/Category"
            },
            {
              "$ref": "#/components/parameters/StreamId"
            }
          ],
          "post": {
            "operationId": "appendToStream",
            "summary": "Append events to a stream",
            "tags": [
              "streams"
            ],
            "description": "Appends one event or an array of events atomically, if the stream is at the expected version. Appending events whose ids are all already in the stream at those positions is an idempotent success (200, `alreadyAppended: true`).",
            "parameters": [
              {
                "name": "Stele-Expected-Version",
                "in": "header",
                "required": false,
                "description": "`any` (the default), `no-stream` (or `-1`), `stream-exists`, or the exact version (≥ 0) of the stream's last event.",
                "schema": {
                  "type": "string",
                  "pattern": "^(any|no-stream|stream-exists|-1|[0-9]{1,18})$",
                  "default": "any",
                  "examples": [
                    "any",
                    "no-stream",
                    "stream-exists",
                    "41"
                  ]
                }
              }
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/AppendRequest"
                  }
                }
              }
            },
            "responses": {
              "201": {
                "description": "The events were appended.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/AppendResult"
                    }
                  }
                }
              },
              "200": {
                "description": "The events (by id) were already in the stream; nothing was written.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/AppendResult"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "409": {
                "description": "The stream is not at the expected version (`wrong expected version`, with `stream`, `expected` and `actual` members), or only some of the events' ids are already in the stream (`idempotency conflict`, with `stream` and `reason`). Nothing was written.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              }
            }
          },
          "get": {
            "operationId": "readStream",
            "summary": "Read a stream's events",
            "tags": [
              "streams"
            ],
            "description": "Reads forward (oldest first) or backward (newest first) a page at a time; `next` is where the next page starts. With `asOf`, returns every event of the stream appended up to that time, oldest first, in one answer (`direction`, `from` and `limit` are then not used, though `limit` is still checked). A stream with no events reads as an empty page.",
            "parameters": [
              {
                "$ref": "#/components/parameters/Limit"
              },
              {
                "name": "direction",
                "in": "query",
                "required": false,
                "schema": {
                  "type": "string",
                  "enum": [
                    "forward",
                    "backward"
                  ],
                  "default": "forward"
                }
              },
              {
                "name": "from",
                "in": "query",
                "required": false,
                "description": "The version to start at (included). Forward reads start at 0 without it, backward reads at the stream's last event.",
                "schema": {
                  "type": "integer",
                  "format": "int64",
                  "minimum": 0
                }
              },
              {
                "name": "asOf",
                "in": "query",
                "required": false,
                "description": "Read the stream as it was at this time: an ISO 8601 time (`2026-11-23T10:15:00Z`, fractional seconds allowed) or epoch milliseconds.",
                "schema": {
                  "type": "string",
                  "pattern": "^([1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])|[0-9]{1,14})$"
                },
                "examples": {
                  "iso": {
                    "value": "2026-11-23T10:15:00Z"
                  },
                  "epochMilliseconds": {
                    "value": "1795428900000"
                  }
                }
              },
              {
                "$ref": "#/components/parameters/DataEncoding"
              }
            ],
            "responses": {
              "200": {
                "description": "A page of the stream's events.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/EventPage"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              }
            }
          }
        },
        "/streams/{category}/{id}/subscribe": {
          "parameters": [
            {
              "$ref": "#/components/parameters/Category"
            },
            {
              "$ref": "#/components/parameters/StreamId"
            }
          ],
          "get": {
            "operationId": "subscribeToStream",
            "summary": "Follow a stream (Server-Sent Events)",
            "tags": [
              "subscriptions"
            ],
            "description": "The stream's events so far, then new ones as they are appended. Each message is `id: <version>`, `event: <event type>` (`event` for a record without one), `data: <CloudEvent JSON>` (payloads as `data`, or `data_base64` when not JSON). The stream opens with the comment `: stele`; idle streams get `: keep-alive` comments. A store failure after the stream opened is sent as an `error` message whose data is a JSON string. A client that reconnects with `Last-Event-ID` gets the events after that version.",
            "parameters": [
              {
                "name": "Last-Event-ID",
                "in": "header",
                "required": false,
                "description": "The last version received: the events after it are sent. Wins over `from`.",
                "schema": {
                  "type": "string",
                  "pattern": "^[0-9]{1,18}$"
                }
              },
              {
                "name": "from",
                "in": "query",
                "required": false,
                "description": "The version to start at (included).",
                "schema": {
                  "type": "integer",
                  "format": "int64",
                  "minimum": 0,
                  "default": 0
                }
              }
            ],
            "responses": {
              "200": {
                "description": "An endless `text/event-stream` of the stream's events.",
                "headers": {
                  "Cache-Control": {
                    "description": "Always `no-cache`.",
                    "schema": {
                      "type": "string",
                      "const": "no-cache"
                    }
                  }
                },
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/TooManySubscribers"
              }
            }
          }
        },
        "/streams/{category}/{id}/snapshots/{name}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/Category"
            },
            {
              "$ref": "#/components/parameters/StreamId"
            },
            {
              "$ref": "#/components/parameters/SnapshotName"
            }
          ],
          "put": {
            "operationId": "saveSnapshot",
            "summary": "Store a snapshot of a stream's folded state",
            "tags": [
              "snapshots"
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/SnapshotIn"
                  }
                }
              }
            },
            "responses": {
              "204": {
                "description": "Stored."
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              }
            }
          },
          "get": {
            "operationId": "getSnapshot",
            "summary": "The newest snapshot at or before a version",
            "tags": [
              "snapshots"
            ],
            "parameters": [
              {
                "name": "schemaVersion",
                "in": "query",
                "required": false,
                "description": "The state's schema version; snapshots of other schema versions are ignored.",
                "schema": {
                  "type": "integer",
                  "minimum": 1,
                  "default": 1,
                  "maximum": 2147483647
                }
              },
              {
                "name": "atOrBefore",
                "in": "query",
                "required": false,
                "description": "The newest version the snapshot may have folded (any when absent).",
                "schema": {
                  "type": "integer",
                  "format": "int64",
                  "minimum": 0,
                  "maximum": 9223372036854775807
                }
              }
            ],
            "responses": {
              "200": {
                "description": "The newest matching snapshot.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Snapshot"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "404": {
                "description": "No snapshot of that name and schema version at or before that version.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              }
            }
          }
        },
        "/categories/{category}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/CategoryName"
            }
          ],
          "get": {
            "operationId": "getCategoryEnd",
            "summary": "A category's end position",
            "tags": [
              "categories"
            ],
            "responses": {
              "200": {
                "description": "The position after the category's last event.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/CategoryEnd"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              }
            }
          }
        },
        "/categories/{category}/events": {
          "parameters": [
            {
              "$ref": "#/components/parameters/CategoryName"
            }
          ],
          "get": {
            "operationId": "readCategory",
            "summary": "Read a category's events page by page",
            "tags": [
              "categories"
            ],
            "parameters": [
              {
                "$ref": "#/components/parameters/Limit"
              },
              {
                "name": "after",
                "in": "query",
                "required": false,
                "description": "The category position to read after (a previous page's `next`); the start when absent or empty.",
                "schema": {
                  "$ref": "#/components/schemas/CategoryPosition"
                }
              },
              {
                "$ref": "#/components/parameters/DataEncoding"
              }
            ],
            "responses": {
              "200": {
                "description": "Up to `limit` events after `after`, and the position after them. A page is short at the end of the category, or when its events hold 16 MiB; an empty page is the end.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/CategoryPage"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/StoreFailed"
              },
              "404": {
                "description": "The position names offsets the category does not have (past its end, or before its start after retention).",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/categories/{category}/subscribe": {
          "parameters": [
            {
              "$ref": "#/components/parameters/CategoryName"
            }
          ],
          "get": {
            "operationId": "subscribeToCategory",
            "summary": "Follow a category (Server-Sent Events)",
            "tags": [
              "subscriptions"
            ],
            "description": "The category's events after a position, then new ones as they are appended. Each message is `id: <category position after the event>`, `event: <event type>`, `data: <CloudEvent JSON>`. The stream opens with the comment `: stele`; idle streams get `: keep-alive` comments; a store failure after the stream opened (an unknown or invalid category, for one) is sent as an `error` message whose data is a JSON string.",
            "parameters": [
              {
                "name": "Last-Event-ID",
                "in": "header",
                "required": false,
                "description": "The `id` of the last message received (a category position): the events after it are sent. Wins over `after`.",
                "schema": {
                  "$ref": "#/components/schemas/CategoryPosition"
                }
              },
              {
                "name": "after",
                "in": "query",
                "required": false,
                "description": "The category position to start after; the start when absent.",
                "schema": {
                  "$ref": "#/components/schemas/CategoryPosition"
                }
              }
            ],
            "responses": {
              "200": {
                "description": "An endless `text/event-stream` of the category's events.",
                "headers": {
                  "Cache-Control": {
                    "description": "Always `no-cache`.",
                    "schema": {
                      "type": "string",
                      "const": "no-cache"
                    }
                  }
                },
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/TooManySubscribers"
              }
            }
          }
        },
        "/appends": {
          "get": {
            "operationId": "waitForAppends",
            "summary": "Long poll for appends",
            "tags": [
              "categories"
            ],
            "description": "Returns the store's append generation: at once when it differs from `after` (or `waitMs` is 0), otherwise when something is appended or after `waitMs` (at most 30 seconds), whichever comes first.",
            "parameters": [
              {
                "name": "after",
                "in": "query",
                "required": true,
                "description": "The generation from an earlier answer; 0 at first.",
                "schema": {
                  "type": "integer",
                  "format": "uint64",
                  "minimum": 0
                }
              },
              {
                "name": "waitMs",
                "in": "query",
                "required": false,
                "description": "How long to wait for an append, in milliseconds (capped at 30000).",
                "schema": {
                  "type": "integer",
                  "minimum": 0,
                  "default": 0
                }
              }
            ],
            "responses": {
              "200": {
                "description": "The current append generation.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Appends"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "503": {
                "$ref": "#/components/responses/TooManySubscribers"
              }
            }
          }
        },
        "/topics": {
          "get": {
            "operationId": "listTopics",
            "summary": "List topics",
            "tags": [
              "topics"
            ],
            "responses": {
              "200": {
                "description": "Every topic, with its partitions' offsets and sizes.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/TopicList"
                    }
                  }
                }
              }
            }
          },
          "post": {
            "operationId": "createTopic",
            "summary": "Create a topic",
            "tags": [
              "topics"
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/TopicIn"
                  }
                }
              }
            },
            "responses": {
              "201": {
                "description": "Created.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Topic"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "409": {
                "description": "A topic of that name exists (or is on disk but offline).",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "500": {
                "description": "The topic vanished after its creation.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "503": {
                "description": "Storage failure while creating the topic (a directory of that name is in the way, a write or fsync failed).",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              }
            }
          }
        },
        "/topics/{name}": {
          "parameters": [
            {
              "name": "name",
              "in": "path",
              "required": true,
              "schema": {
                "type": "string"
              }
            }
          ],
          "get": {
            "operationId": "getTopic",
            "summary": "Describe a topic",
            "tags": [
              "topics"
            ],
            "responses": {
              "200": {
                "description": "The topic.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Topic"
                    }
                  }
                }
              },
              "404": {
                "description": "No topic of that name.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "503": {
                "description": "The topic is offline: its files are on disk but cannot be served; the detail names the file and what is wrong.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/groups": {
          "get": {
            "operationId": "listGroups",
            "summary": "List consumer groups",
            "tags": [
              "groups"
            ],
            "responses": {
              "200": {
                "description": "Every consumer group (with members or committed offsets), sorted by name, with its lag per partition.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/GroupList"
                    }
                  }
                }
              }
            }
          }
        },
        "/groups/{name}": {
          "parameters": [
            {
              "name": "name",
              "in": "path",
              "required": true,
              "schema": {
                "type": "string"
              }
            }
          ],
          "get": {
            "operationId": "getGroup",
            "summary": "Describe a consumer group",
            "tags": [
              "groups"
            ],
            "responses": {
              "200": {
                "description": "The group: state, members, and per partition its committed offset, log end and lag.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Group"
                    }
                  }
                }
              },
              "404": {
                "description": "No consumer group of that name.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/views": {
          "get": {
            "operationId": "listViews",
            "summary": "List views",
            "tags": [
              "views"
            ],
            "responses": {
              "200": {
                "description": "Every view's status, and the definition files that were refused.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/ViewList"
                    }
                  }
                }
              }
            }
          }
        },
        "/views/{name}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            }
          ],
          "get": {
            "operationId": "getView",
            "summary": "A view's status",
            "tags": [
              "views"
            ],
            "responses": {
              "200": {
                "description": "The view's state, lag, parked events and any rebuild's progress.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/ViewStatus"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/NoSuchView"
              }
            }
          }
        },
        "/views/{name}/rebuild": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            }
          ],
          "post": {
            "operationId": "rebuildView",
            "summary": "Rebuild a view from the start of the log",
            "tags": [
              "views"
            ],
            "description": "Starts a rebuild beside the live tables; watch it in the view's status.",
            "responses": {
              "202": {
                "description": "The rebuild started; the view's status.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/ViewStatus"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/NoSuchView"
              },
              "409": {
                "description": "The view is already rebuilding (or could not start a rebuild).",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/views/{name}/retry": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            }
          ],
          "post": {
            "operationId": "retryParkedEvents",
            "summary": "Apply a view's parked events again",
            "tags": [
              "views"
            ],
            "responses": {
              "200": {
                "description": "How many parked events were applied and how many are still parked.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/RetryOutcome"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/NoSuchView"
              },
              "409": {
                "description": "The view is not running (or the retry failed).",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              }
            }
          }
        },
        "/views/{name}/tables/{table}/rows/{key}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            },
            {
              "name": "table",
              "in": "path",
              "required": true,
              "schema": {
                "type": "string"
              }
            },
            {
              "name": "key",
              "in": "path",
              "required": true,
              "description": "The row's primary key, as text.",
              "schema": {
                "type": "string"
              }
            }
          ],
          "get": {
            "operationId": "getViewRow",
            "summary": "Read a view's row by primary key",
            "tags": [
              "views"
            ],
            "responses": {
              "200": {
                "description": "The row.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Row"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/ViewStoreFailed"
              },
              "403": {
                "$ref": "#/components/responses/ReadOnly"
              },
              "404": {
                "description": "No view of that name, or no row with that key.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "500": {
                "$ref": "#/components/responses/QueryFailed"
              },
              "503": {
                "$ref": "#/components/responses/QueryTimedOut"
              }
            }
          }
        },
        "/views/{name}/query": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            }
          ],
          "post": {
            "operationId": "queryView",
            "summary": "Run a read-only SQL query over a view's tables",
            "tags": [
              "views"
            ],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/QueryRequest"
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "The rows.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/QueryResult"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/ViewStoreFailed"
              },
              "403": {
                "$ref": "#/components/responses/ReadOnly"
              },
              "404": {
                "$ref": "#/components/responses/NoSuchView"
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "500": {
                "$ref": "#/components/responses/QueryFailed"
              },
              "503": {
                "$ref": "#/components/responses/QueryTimedOut"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              }
            }
          }
        },
        "/views/{name}/changes": {
          "parameters": [
            {
              "$ref": "#/components/parameters/ViewName"
            }
          ],
          "get": {
            "operationId": "followViewChanges",
            "summary": "Follow a view's changes (Server-Sent Events)",
            "tags": [
              "subscriptions",
              "views"
            ],
            "description": "Each transaction that changes the view is sent as `event: change` with `data: <ViewChange JSON>` (see the `ViewChange` schema); there is no catch-up and no `id`. The stream opens with the comment `: stele`; idle streams get `: keep-alive` comments. A client that falls more than 1024 changes behind, or a failure, ends the stream with an `error` message whose data is a JSON string.",
            "responses": {
              "200": {
                "description": "An endless `text/event-stream` of the view's changes.",
                "headers": {
                  "Cache-Control": {
                    "description": "Always `no-cache`.",
                    "schema": {
                      "type": "string",
                      "const": "no-cache"
                    }
                  }
                },
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/NoSuchView"
              },
              "503": {
                "$ref": "#/components/responses/TooManySubscribers"
              }
            }
          }
        }
      },
      "components": {
        "schemas": {
          "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details. Every error response of the API has this shape (media type `application/problem+json`). Some problems carry extra members, listed below.",
            "required": [
              "type",
              "title",
              "status"
            ],
            "properties": {
              "type": {
                "type": "string",
                "examples": [
                  "about:blank"
                ],
                "description": "Always `about:blank`: the title says what went wrong."
              },
              "title": {
                "type": "string",
                "description": "A short summary of the problem."
              },
              "status": {
                "type": "integer",
                "description": "The HTTP status code, repeated."
              },
              "detail": {
                "type": "string",
                "description": "Details of this occurrence, when there are any."
              },
              "stream": {
                "type": "string",
                "description": "`category/id` of the stream concerned (409 wrong expected version, 409 idempotency conflict)."
              },
              "expected": {
                "type": [
                  "string",
                  "integer"
                ],
                "format": "int64",
                "description": "409 wrong expected version: what the request expected, as the `Stele-Expected-Version` header spells it — a version (integer) or `any`, `no-stream`, `stream-exists`."
              },
              "actual": {
                "type": "integer",
                "format": "int64",
                "description": "409 wrong expected version: the stream's current version, -1 when it has no events."
              },
              "reason": {
                "type": "string",
                "description": "409 idempotency conflict: why the appended event ids conflict with those already in the stream."
              }
            }
          },
          "Health": {
            "type": "object",
            "required": [
              "status"
            ],
            "properties": {
              "status": {
                "type": "string",
                "enum": [
                  "ok",
                  "degraded"
                ],
                "description": "`degraded` when a topic is offline or a partition stopped after a storage failure; the server still answers."
              },
              "offlineTopics": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/OfflineTopic"
                }
              },
              "failedPartitions": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": [
                    "topic",
                    "partition",
                    "reason"
                  ],
                  "properties": {
                    "topic": {
                      "type": "string"
                    },
                    "partition": {
                      "type": "integer"
                    },
                    "reason": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          },
          "OfflineTopic": {
            "type": "object",
            "description": "A topic whose files are on disk but cannot be served (its metadata file missing or damaged, a partition directory gone); its data is kept.",
            "required": [
              "name",
              "reason"
            ],
            "properties": {
              "name": {
                "type": "string"
              },
              "reason": {
                "type": "string"
              }
            }
          },
          "StreamName": {
            "type": "string",
            "examples": [
              "accounts/account-123"
            ],
            "description": "A stream's name, `category/id`."
          },
          "EventPosition": {
            "type": "string",
            "pattern": "^[0-9]{1,9}:([0-9]{1,18}/)?[0-9]{1,18}$",
            "examples": [
              "0:120",
              "1:5012/97"
            ],
            "description": "Where an event sits in its category's log: `partition:offset`, or `partition:commit/offset` for backends that order by commit (PostgreSQL)."
          },
          "CategoryPosition": {
            "type": "string",
            "pattern": "^([0-9]{1,9}:([0-9]{1,18}/)?[0-9]{1,18}(,[0-9]{1,9}:([0-9]{1,18}/)?[0-9]{1,18})*)?$",
            "examples": [
              "0:120,1:97",
              ""
            ],
            "description": "Where a reader of a category is: for each partition, the offset of the next event to read (`partition:offset`, or `partition:commit/offset`), comma-separated. Partitions not named start at their beginning; the empty string is the category's start."
          },
          "CloudEvent": {
            "type": "object",
            "description": "A recorded event in CloudEvents 1.0 JSON format, with Stele's stream, version, position and metadata as extension attributes. The payload is `data` when it is JSON (and base64 was not asked for), otherwise `data_base64`.",
            "required": [
              "specversion",
              "id",
              "type",
              "source",
              "subject",
              "time",
              "datacontenttype",
              "stelestream",
              "steleversion",
              "steleposition",
              "steleschemaversion"
            ],
            "properties": {
              "specversion": {
                "type": "string",
                "const": "1.0"
              },
              "id": {
                "type": "string",
                "examples": [
                  "4f1c9a2e-6b8d-4c1e-9f0a-2d3b4c5d6e7f"
                ],
                "description": "The event's id (a lowercase UUID), or `category/id@version` for a record written without one (by a plain Kafka producer)."
              },
              "type": {
                "type": "string",
                "description": "The event's type; empty for a record written without one."
              },
              "source": {
                "type": "string",
                "examples": [
                  "/streams/accounts"
                ],
                "description": "`/streams/{category}`."
              },
              "subject": {
                "type": "string",
                "examples": [
                  "account-123"
                ],
                "description": "The stream's id within its category."
              },
              "time": {
                "type": "string",
                "format": "date-time",
                "examples": [
                  "2026-11-23T10:15:00.123Z"
                ],
                "description": "When the store appended the event (UTC, milliseconds)."
              },
              "datacontenttype": {
                "type": "string",
                "enum": [
                  "application/json",
                  "application/octet-stream"
                ],
                "description": "`application/json` when the payload is JSON (even when sent as `data_base64` because base64 was asked for), `application/octet-stream` otherwise."
              },
              "data": {
                "description": "The payload, when it is JSON and base64 was not asked for: any JSON value (re-serialised, object keys sorted)."
              },
              "data_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The payload, base64, byte for byte: when it is not JSON, or when `dataEncoding=base64` was asked for."
              },
              "stelestream": {
                "$ref": "#/components/schemas/StreamName"
              },
              "steleversion": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The event's version in its stream, from 0."
              },
              "steleposition": {
                "$ref": "#/components/schemas/EventPosition"
              },
              "steleschemaversion": {
                "type": "integer",
                "minimum": 1,
                "description": "The version of the payload's schema."
              },
              "steleoccurredat": {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened in the world (valid time), if the appender said."
              },
              "stelecorrelationid": {
                "type": "string",
                "description": "The correlation id the appender gave, if any."
              },
              "stelecausationid": {
                "type": "string",
                "description": "The causation id the appender gave, if any."
              }
            },
            "oneOf": [
              {
                "required": [
                  "data"
                ]
              },
              {
                "required": [
                  "data_base64"
                ]
              }
            ]
          },
          "EventIn": {
            "type": "object",
            "description": "An event to append. The payload is `data` (any JSON value, stored as its JSON text) or `data_base64` (bytes, stored as they are); `data` wins when both are given. The payload is `data_base64` (byte for byte) when present, else `data` as JSON; an event may have neither (an empty payload), as in CloudEvents.",
            "required": [
              "type"
            ],
            "properties": {
              "type": {
                "type": "string",
                "minLength": 1,
                "description": "The event's type."
              },
              "data": {
                "description": "The payload: any JSON value."
              },
              "data_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The payload, base64.",
                "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
              },
              "id": {
                "type": "string",
                "format": "uuid",
                "description": "The event's id, for idempotent appends: appending events whose ids are already in the stream at those positions succeeds without writing them again. A new UUID when absent."
              },
              "schemaVersion": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2147483647,
                "default": 1,
                "description": "The version of the payload's schema."
              },
              "correlationId": {
                "type": "string"
              },
              "causationId": {
                "type": "string"
              },
              "occurredAt": {
                "type": "string",
                "description": "When the event happened in the world: an ISO 8601 / RFC 3339 time (`2026-11-23T10:15:00Z`, fractional seconds allowed) or epoch milliseconds, as a string.",
                "pattern": "^([1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])|[0-9]{1,14})$"
              }
            },
            "anyOf": [
              {
                "required": [
                  "data"
                ]
              },
              {
                "required": [
                  "data_base64"
                ]
              }
            ]
          },
          "AppendRequest": {
            "description": "One event, or an array of events appended atomically.",
            "oneOf": [
              {
                "$ref": "#/components/schemas/EventIn"
              },
              {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/EventIn"
                },
                "minItems": 1,
                "maxItems": 100000
              }
            ]
          },
          "AppendResult": {
            "type": "object",
            "required": [
              "stream",
              "firstVersion",
              "lastVersion",
              "position",
              "alreadyAppended"
            ],
            "properties": {
              "stream": {
                "$ref": "#/components/schemas/StreamName"
              },
              "firstVersion": {
                "type": "integer",
                "format": "int64",
                "description": "The version of the first event appended."
              },
              "lastVersion": {
                "type": "integer",
                "format": "int64",
                "description": "The version of the last event appended."
              },
              "position": {
                "$ref": "#/components/schemas/EventPosition",
                "description": "The position of the first event appended."
              },
              "alreadyAppended": {
                "type": "boolean",
                "description": "Whether the events (by id) were already in the stream, so nothing was written (the response is then 200 rather than 201)."
              }
            }
          },
          "EventPage": {
            "type": "object",
            "required": [
              "events"
            ],
            "properties": {
              "events": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/CloudEvent"
                }
              },
              "next": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The version to pass as `from` for the next page (in the same direction); absent when this page was the last (shorter than `limit`, or backward past version 0) and for `asOf` reads."
              }
            }
          },
          "CategoryEnd": {
            "type": "object",
            "required": [
              "category",
              "end"
            ],
            "properties": {
              "category": {
                "type": "string"
              },
              "end": {
                "$ref": "#/components/schemas/CategoryPosition",
                "description": "The position after the category's last event (pass it as `after` to follow only what comes next)."
              }
            }
          },
          "CategoryPage": {
            "type": "object",
            "required": [
              "events",
              "next"
            ],
            "properties": {
              "events": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/CloudEvent"
                }
              },
              "next": {
                "$ref": "#/components/schemas/CategoryPosition",
                "description": "The position after these events: the `after` of the next page."
              }
            }
          },
          "Appends": {
            "type": "object",
            "required": [
              "generation"
            ],
            "properties": {
              "generation": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "examples": [
                  "42"
                ],
                "description": "The store's append generation (an unsigned 64-bit integer, in decimal): it changes whenever anything is appended. Pass it as `after` in the next poll."
              }
            }
          },
          "SnapshotIn": {
            "type": "object",
            "description": "A folded state to store. `stream` and `name` come from the path; other members are ignored.",
            "required": [
              "version",
              "state_base64"
            ],
            "properties": {
              "version": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The version of the last event folded into the state."
              },
              "schemaVersion": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2147483647,
                "default": 1,
                "description": "The version of the state's schema."
              },
              "state_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The state, base64.",
                "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
              },
              "takenAt": {
                "type": "string",
                "description": "When the snapshot was taken: an ISO 8601 time or epoch milliseconds, as a string. Now when absent.",
                "pattern": "^([1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])|[0-9]{1,14})$"
              }
            }
          },
          "Snapshot": {
            "type": "object",
            "required": [
              "stream",
              "name",
              "version",
              "schemaVersion",
              "state_base64",
              "takenAt"
            ],
            "properties": {
              "stream": {
                "$ref": "#/components/schemas/StreamName"
              },
              "name": {
                "type": "string",
                "description": "What the state is."
              },
              "version": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The version of the last event folded into the state."
              },
              "schemaVersion": {
                "type": "integer",
                "minimum": 1,
                "description": "The version of the state's schema."
              },
              "state_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The state, base64."
              },
              "takenAt": {
                "type": "string",
                "format": "date-time",
                "examples": [
                  "2026-11-23T10:15:00.123Z"
                ]
              }
            }
          },
          "TopicPartition": {
            "type": "object",
            "required": [
              "partition",
              "logStartOffset",
              "logEndOffset",
              "bytes"
            ],
            "properties": {
              "partition": {
                "type": "integer",
                "minimum": 0
              },
              "logStartOffset": {
                "type": "integer",
                "format": "int64",
                "minimum": 0
              },
              "logEndOffset": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The high watermark: the offset the next record will get."
              },
              "bytes": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The partition's size on disk."
              }
            }
          },
          "Topic": {
            "type": "object",
            "required": [
              "name",
              "configs",
              "partitions"
            ],
            "properties": {
              "name": {
                "type": "string"
              },
              "configs": {
                "type": "object",
                "description": "The topic's configuration overrides (Kafka config names).",
                "additionalProperties": {
                  "type": "string"
                }
              },
              "partitions": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/TopicPartition"
                }
              }
            }
          },
          "TopicList": {
            "type": "object",
            "required": [
              "topics"
            ],
            "properties": {
              "topics": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Topic"
                }
              },
              "offline": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/OfflineTopic"
                }
              }
            }
          },
          "TopicIn": {
            "type": "object",
            "required": [
              "name"
            ],
            "properties": {
              "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 249,
                "pattern": "^[a-zA-Z0-9._-]+$",
                "description": "Kafka's topic-name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`."
              },
              "partitions": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "The broker's default when absent."
              },
              "configs": {
                "type": "object",
                "description": "Configuration overrides (Kafka config names): strings, or integers (stored as their decimal text).",
                "additionalProperties": {
                  "type": [
                    "string",
                    "integer"
                  ]
                }
              }
            }
          },
          "GroupMember": {
            "type": "object",
            "required": [
              "memberId",
              "clientId"
            ],
            "properties": {
              "memberId": {
                "type": "string"
              },
              "clientId": {
                "type": "string"
              }
            }
          },
          "GroupPartition": {
            "type": "object",
            "required": [
              "topic",
              "partition",
              "committed",
              "logEndOffset",
              "lag"
            ],
            "properties": {
              "topic": {
                "type": "string"
              },
              "partition": {
                "type": "integer",
                "minimum": 0
              },
              "committed": {
                "type": "integer",
                "format": "int64",
                "description": "The committed offset."
              },
              "logEndOffset": {
                "type": [
                  "integer",
                  "null"
                ],
                "format": "int64",
                "description": "The partition's log end; null when the topic or partition no longer exists."
              },
              "lag": {
                "type": [
                  "integer",
                  "null"
                ],
                "format": "int64",
                "minimum": 0,
                "description": "`logEndOffset - committed` (at least 0); null when the log end is unknown."
              }
            }
          },
          "Group": {
            "type": "object",
            "required": [
              "name",
              "state",
              "members",
              "partitions",
              "lag"
            ],
            "properties": {
              "name": {
                "type": "string"
              },
              "state": {
                "type": "string",
                "enum": [
                  "Empty",
                  "PreparingRebalance",
                  "CompletingRebalance",
                  "Stable",
                  "Dead"
                ]
              },
              "members": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/GroupMember"
                }
              },
              "partitions": {
                "type": "array",
                "description": "Committed offsets, sorted by topic and partition.",
                "items": {
                  "$ref": "#/components/schemas/GroupPartition"
                }
              },
              "lag": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The sum of the partitions' known lags."
              }
            }
          },
          "GroupList": {
            "type": "object",
            "required": [
              "groups"
            ],
            "properties": {
              "groups": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Group"
                }
              }
            }
          },
          "ParkedEvent": {
            "type": "object",
            "description": "An event the view's projection could not apply, set aside.",
            "required": [
              "stream",
              "version",
              "position",
              "type",
              "error",
              "parkedAt"
            ],
            "properties": {
              "stream": {
                "$ref": "#/components/schemas/StreamName"
              },
              "version": {
                "type": "integer",
                "format": "int64",
                "minimum": 0
              },
              "position": {
                "$ref": "#/components/schemas/EventPosition"
              },
              "type": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "The event's type; null for a record without one."
              },
              "error": {
                "type": "string",
                "description": "Why it could not be applied."
              },
              "parkedAt": {
                "type": "string",
                "format": "date-time"
              }
            }
          },
          "RebuildProgress": {
            "type": "object",
            "required": [
              "phase",
              "applied",
              "total",
              "eventsPerSecond",
              "secondsLeft"
            ],
            "properties": {
              "phase": {
                "type": "string",
                "enum": [
                  "replaying",
                  "swapping",
                  "failed"
                ]
              },
              "reason": {
                "type": "string",
                "description": "Why the rebuild failed; present only when `phase` is `failed`."
              },
              "applied": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "Records of the view's categories replayed so far."
              },
              "total": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "Records of the view's categories in all."
              },
              "eventsPerSecond": {
                "type": "number",
                "description": "The replay rate, rounded to a whole number."
              },
              "secondsLeft": {
                "type": [
                  "number",
                  "null"
                ],
                "description": "The time left at the current rate, to a tenth of a second; null before a rate is known."
              }
            }
          },
          "ViewStatus": {
            "type": "object",
            "required": [
              "name",
              "categories",
              "state",
              "lag",
              "parked"
            ],
            "properties": {
              "name": {
                "type": "string"
              },
              "categories": {
                "type": "array",
                "items": {
                  "type": "string"
                },
                "description": "The categories the view's projection reads."
              },
              "state": {
                "type": "string",
                "enum": [
                  "starting",
                  "running",
                  "rebuilding",
                  "outdated",
                  "failed"
                ],
                "description": "`rebuilding`: running, with a rebuild beside it. `outdated`: the tables were built by another definition; a rebuild is replacing them."
              },
              "reason": {
                "type": "string",
                "description": "Why the view is `outdated` or `failed`; present only in those states."
              },
              "lag": {
                "type": "object",
                "required": [
                  "events",
                  "seconds"
                ],
                "properties": {
                  "events": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "description": "Events of the view's categories not yet applied."
                  },
                  "seconds": {
                    "type": "number",
                    "minimum": 0,
                    "description": "How far behind the view is in time."
                  }
                }
              },
              "parked": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/ParkedEvent"
                }
              },
              "rebuild": {
                "$ref": "#/components/schemas/RebuildProgress"
              }
            }
          },
          "RefusedDefinition": {
            "type": "object",
            "description": "A view definition file that could not be loaded.",
            "required": [
              "file",
              "line",
              "reason"
            ],
            "properties": {
              "file": {
                "type": "string"
              },
              "line": {
                "type": "integer"
              },
              "reason": {
                "type": "string"
              }
            }
          },
          "ViewList": {
            "type": "object",
            "required": [
              "views",
              "refused"
            ],
            "properties": {
              "views": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/ViewStatus"
                }
              },
              "refused": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/RefusedDefinition"
                }
              }
            }
          },
          "RetryOutcome": {
            "type": "object",
            "required": [
              "applied",
              "stillParked"
            ],
            "properties": {
              "applied": {
                "type": "integer",
                "minimum": 0,
                "description": "Parked events now applied."
              },
              "stillParked": {
                "type": "integer",
                "minimum": 0,
                "description": "Events still parked (failing again, or behind one that does)."
              }
            }
          },
          "Row": {
            "type": "object",
            "description": "A row of a view's table: column name to value. Integers and reals are numbers, text is a string, a blob is a base64 string, NULL is null.",
            "additionalProperties": {
              "type": [
                "integer",
                "number",
                "string",
                "null"
              ]
            }
          },
          "QueryRequest": {
            "type": "object",
            "required": [
              "sql"
            ],
            "properties": {
              "sql": {
                "type": "string",
                "examples": [
                  "SELECT * FROM balances WHERE owner = :owner"
                ],
                "description": "A read-only SQL statement over the view's tables."
              },
              "params": {
                "type": "object",
                "description": "Named parameters. Booleans bind as 1 or 0; arrays and objects are refused.",
                "additionalProperties": {
                  "type": [
                    "integer",
                    "number",
                    "string",
                    "boolean",
                    "null"
                  ]
                }
              }
            }
          },
          "QueryResult": {
            "type": "object",
            "required": [
              "rows"
            ],
            "properties": {
              "rows": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Row"
                }
              }
            }
          },
          "ViewChangeEvent": {
            "type": "object",
            "required": [
              "stream",
              "version",
              "type",
              "position"
            ],
            "properties": {
              "stream": {
                "$ref": "#/components/schemas/StreamName"
              },
              "version": {
                "type": "integer",
                "format": "int64",
                "minimum": 0
              },
              "type": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "position": {
                "$ref": "#/components/schemas/EventPosition"
              }
            }
          },
          "ViewChange": {
            "type": "object",
            "description": "The `data` of a `change` message of `/views/{name}/changes`: the events a transaction made visible in the view (none for a rebuild's swap) and the view's checkpoints after it.",
            "required": [
              "view",
              "events",
              "checkpoints"
            ],
            "properties": {
              "view": {
                "type": "string"
              },
              "events": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/ViewChangeEvent"
                }
              },
              "checkpoints": {
                "type": "object",
                "description": "Category name to the view's position in it.",
                "additionalProperties": {
                  "$ref": "#/components/schemas/CategoryPosition"
                }
              }
            }
          }
        },
        "parameters": {
          "Category": {
            "name": "category",
            "in": "path",
            "required": true,
            "description": "The stream's category (a topic): Kafka's topic-name rules, 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`, not starting with `__`. Percent-decoded.",
            "schema": {
              "type": "string",
              "minLength": 1,
              "maxLength": 249,
              "pattern": "^(?!__)(?!\\.{1,2}$)[a-zA-Z0-9._-]+$"
            }
          },
          "CategoryName": {
            "name": "category",
            "in": "path",
            "required": true,
            "description": "A category (a topic). Percent-decoded.",
            "schema": {
              "type": "string",
              "minLength": 1,
              "maxLength": 249,
              "pattern": "^(?!__)(?!\\.{1,2}$)[a-zA-Z0-9._-]+$"
            }
          },
          "StreamId": {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The stream's id within its category: any characters (percent-encoded), at most 1024 UTF-8 bytes.",
            "schema": {
              "type": "string",
              "minLength": 1
            }
          },
          "SnapshotName": {
            "name": "name",
            "in": "path",
            "required": true,
            "description": "What the state is (percent-decoded).",
            "schema": {
              "type": "string",
              "minLength": 1
            }
          },
          "ViewName": {
            "name": "name",
            "in": "path",
            "required": true,
            "description": "The view's name.",
            "schema": {
              "type": "string"
            }
          },
          "Limit": {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "Most events to return.",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 1000,
              "default": 1000
            }
          },
          "DataEncoding": {
            "name": "dataEncoding",
            "in": "query",
            "required": false,
            "description": "`base64`: every payload as `data_base64`, byte for byte (JSON payloads are otherwise re-serialised into `data`). Any other value is refused with 400.",
            "schema": {
              "type": "string",
              "enum": [
                "base64"
              ]
            }
          },
          "LastEventID": {
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "The `id` of the last message received, sent by an SSE client when it reconnects: the stream resumes after it.",
            "schema": {
              "type": "string"
            }
          }
        },
        "responses": {
          "BadRequest": {
            "description": "The request is invalid (a parameter, header or body is malformed, or the store refused it).",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "NotFound": {
            "description": "Not found.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "Conflict": {
            "description": "Conflict.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "ContentTooLarge": {
            "description": "The body is larger than the server's limit (1 MiB by default).",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "StoreFailed": {
            "description": "The store failed (a storage error, or the store is closed).",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "NoSuchView": {
            "description": "No view of that name.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "ViewStoreFailed": {
            "description": "The query or read failed in the view's store (or, for a query, the body is malformed).",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "ReadOnly": {
            "description": "Queries are read-only: the statement would write.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "QueryFailed": {
            "description": "The query failed for another reason.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "QueryTimedOut": {
            "description": "The query ran too long and was cancelled.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "UnsupportedMediaType": {
            "description": "The body is not JSON: requests with a body must say `Content-Type: application/json` (or another `+json` type). Browsers cannot send that cross-origin without a preflight, which this server never grants.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          },
          "TooManySubscribers": {
            "description": "Too many event streams and long polls are open (`--http-max-subscribers`); try again later.",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            }
          }
        }
      }
    }
    """#
}
