// The store's types and its two backends that need nothing beyond Stele's own code (the
// embedded log and a remote server) are part of this library's API: importing Stele is enough.
// PostgreSQL is a module of its own (`import StelePostgres`), so an application that does not
// use it does not link postgres-nio.
@_exported import SteleStore
@_exported import SteleEmbedded
@_exported import SteleRemote
// The window engine is the processors' vocabulary (windows, aggregates, results).
@_exported import SteleProcessing
@_exported import SteleProcessors
@_exported import enum SteleLog.FlushPolicy
