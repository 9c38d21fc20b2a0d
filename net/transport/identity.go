package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// RoleOf returns the connection role an id's range (sm.NodeID.Role) gives
// it, so a certificate can be bound to ids without a registry: a broker
// certificate can never pass for a controller, and no client can claim a
// server's id (and so receive its replies). False for NoNode and for admin
// ids, which live inside server processes and never connect.
func RoleOf(id sm.NodeID) (wire.Role, bool) {
	switch id.Role() {
	case sm.RoleController:
		return wire.RoleController, true
	case sm.RoleBroker:
		return wire.RoleBroker, true
	case sm.RoleClient:
		return wire.RoleClient, true
	}
	return 0, false
}

// CertName is the certificate CommonName a server node must hold:
// "controller-1", "broker-101". Clients name their certificates
// "client-<label>" with any label (see Authorize).
func CertName(role wire.Role, id sm.NodeID) string {
	return role.String() + "-" + strconv.FormatUint(uint64(id), 10)
}

var clientLabel = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Authorize decides whether a peer whose verified certificate has
// CommonName cn may act as node id with the given role. The rule:
//
//   - "controller-N" may be exactly controller N, N in the controller
//     range (sm.ControllerIDMin..sm.ControllerIDMax, 1..99);
//   - "broker-N" may be exactly broker N, N in the broker range
//     (sm.BrokerIDMin..sm.BrokerIDMax, 100..999999);
//   - "client-LABEL" (LABEL of [A-Za-z0-9._-]) may be any id in the client
//     range (sm.ClientIDMin..sm.AdminClientIDMin-1): clients pick their
//     ids, and the transport also refuses a client id already held by a
//     live connection with another certificate;
//   - admin ids (sm.AdminClientIDMin and up) may not connect at all;
//   - anything else may be nothing.
//
// N is written in decimal without sign or leading zeros, so each id has one
// name. The role must match the id's range (RoleOf).
func Authorize(cn string, role wire.Role, id sm.NodeID) error {
	if r, ok := RoleOf(id); !ok || r != role {
		return fmt.Errorf("transport: node %d is not a %v id", uint64(id), role)
	}
	prefix, rest, ok := strings.Cut(cn, "-")
	if !ok || prefix != role.String() {
		return fmt.Errorf("transport: certificate %q may not act as %v %d (want %q)", cn, role, uint64(id), nameFor(role, id))
	}
	if role == wire.RoleClient {
		if !clientLabel.MatchString(rest) {
			return fmt.Errorf("transport: certificate %q has an invalid client label", cn)
		}
		return nil
	}
	if rest != strconv.FormatUint(uint64(id), 10) {
		return fmt.Errorf("transport: certificate %q may not act as %v %d (want %q)", cn, role, uint64(id), nameFor(role, id))
	}
	return nil
}

// AuthorizeCert decides whether a peer with verified certificate cert may
// act as node id with the given role. A certificate that carries a role
// (net/pki's weir://role/<role> URI) must carry exactly that role — a
// client certificate can never act as a broker or controller, and an
// admin certificate cannot connect here at all — and, for a server role,
// have the CommonName CertName(role, id), binding it to one node; a client
// certificate's CommonName is free (its principal, say app@example.com)
// and it may take any id in the client range. A certificate without a
// role (tlsutil's, from before roles) follows Authorize's naming rule.
func AuthorizeCert(cert *x509.Certificate, role wire.Role, id sm.NodeID) error {
	cn := cert.Subject.CommonName
	r, err := pki.RoleOf(cert)
	switch {
	case errors.Is(err, pki.ErrNoRole):
		return Authorize(cn, role, id)
	case err != nil:
		return fmt.Errorf("transport: certificate %q: %w", cn, err)
	}
	if want, ok := pkiRoles[role]; !ok || r != want {
		return fmt.Errorf("transport: certificate %q carries role %s and may not act as %v %d", cn, r, role, uint64(id))
	}
	if got, ok := RoleOf(id); !ok || got != role {
		return fmt.Errorf("transport: node %d is not a %v id", uint64(id), role)
	}
	if role != wire.RoleClient && cn != CertName(role, id) {
		return fmt.Errorf("transport: certificate %q may not act as %v %d (want %q)", cn, role, uint64(id), CertName(role, id))
	}
	return nil
}

// pkiRoles maps a connection role to the certificate role it needs.
var pkiRoles = map[wire.Role]pki.Role{
	wire.RoleController: pki.RoleController,
	wire.RoleBroker:     pki.RoleBroker,
	wire.RoleClient:     pki.RoleClient,
}

func nameFor(role wire.Role, id sm.NodeID) string {
	if role == wire.RoleClient {
		return "client-*"
	}
	return CertName(role, id)
}

// ServerID returns the node a server certificate's CommonName names:
// "controller-N" is controller N and "broker-N" broker N, under the same
// rules as Authorize (decimal without sign or leading zeros, in the role's
// range). A client name, or anything else, is an error: clients do not
// serve, so a dialler that finds one has reached the wrong process.
func ServerID(cn string) (sm.NodeID, error) {
	prefix, rest, _ := strings.Cut(cn, "-")
	var role wire.Role
	switch prefix {
	case wire.RoleController.String():
		role = wire.RoleController
	case wire.RoleBroker.String():
		role = wire.RoleBroker
	default:
		return sm.NoNode, fmt.Errorf("transport: certificate %q does not name a server (want \"broker-N\" or \"controller-N\")", cn)
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return sm.NoNode, fmt.Errorf("transport: certificate %q does not name a server (want \"broker-N\" or \"controller-N\")", cn)
	}
	id := sm.NodeID(n)
	if err := Authorize(cn, role, id); err != nil {
		return sm.NoNode, err
	}
	return id, nil
}
