package transport

import (
	"testing"

	"github.com/weirmq/weir/net/wire"
	"github.com/weirmq/weir/sm"
)

// Connection roles follow sm's ID ranges; admin IDs, which live inside
// server processes, may not connect under any certificate.
func TestRoleOfFollowsSMRanges(t *testing.T) {
	for id, want := range map[sm.NodeID]wire.Role{
		sm.ControllerIDMin: wire.RoleController, sm.ControllerIDMax: wire.RoleController,
		sm.BrokerIDMin: wire.RoleBroker, sm.BrokerIDMax: wire.RoleBroker,
		sm.ClientIDMin: wire.RoleClient, sm.AdminClientIDMin - 1: wire.RoleClient,
	} {
		if got, ok := RoleOf(id); !ok || got != want {
			t.Errorf("RoleOf(%v) = %v, %v; want %v", id, got, ok, want)
		}
	}
	for _, id := range []sm.NodeID{sm.NoNode, sm.AdminClientIDMin, sm.AdminClientIDMin + 1, ^sm.NodeID(0)} {
		if r, ok := RoleOf(id); ok {
			t.Errorf("RoleOf(%v) = %v, want none", id, r)
		}
		if err := Authorize("client-ops", wire.RoleClient, id); err == nil {
			t.Errorf("a client certificate may act as %v", id)
		}
	}
	if err := Authorize("client-ops", wire.RoleClient, sm.AdminClientIDMin-1); err != nil {
		t.Errorf("the top client id is refused: %v", err)
	}
	if _, err := (Config{Self: sm.AdminClientIDMin + 1, Role: wire.RoleClient}).withDefaults(); err == nil {
		t.Error("a transport accepted an admin id as Self")
	}
}
