// The store's types are part of this library's API: importing Stele is enough.
@_exported import SteleStore
