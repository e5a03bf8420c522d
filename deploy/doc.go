// Package deploy holds the deployment (compose.yaml, Caddyfile) and the tests that run it for real:
// several instances of the built binary behind HAProxy and Caddy, and backup and restore.
package deploy
