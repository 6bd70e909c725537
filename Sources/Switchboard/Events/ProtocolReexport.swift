// The envelope, event ids and error codes moved to SwitchboardProtocol so that clients share
// them without the server; re-exported so the library's users keep a single import.
@_exported import SwitchboardProtocol
