// Package config holds GatewayConfig, shipgate's one configuration file:
// its types, loading with file:line errors, validation, the namespace
// binding lookup and hot reload.
package config
