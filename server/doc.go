// Package server wires shipgate together: it builds every service from the
// configuration and serves the admission webhooks, health probes and
// metrics over HTTPS with certificates that reload without a restart.
package server
