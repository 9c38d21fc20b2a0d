package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
)

// lostDiskFile marks a WAL directory that started empty and whose broker
// has not registered since. A broker that starts on an empty disk reports a
// lost disk at registration, so the controller takes it out of every ISR
// instead of electing it as if it held what it held before; if the process
// dies before registering, its next start finds a directory that is no
// longer empty (the incarnation file, perhaps some new logs) and would not
// know — the marker makes the loss survive restarts until it was reported.
const lostDiskFile = "LOST_DISK"

// lostDisk creates the marker when fresh (synced, with its directory) and
// reports whether dir holds it: whether this start must report a lost disk.
func lostDisk(dir string, fresh bool) (bool, error) {
	path := filepath.Join(dir, lostDiskFile)
	if fresh {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return false, fmt.Errorf("lost-disk marker: %w", err)
		}
		serr := f.Sync()
		if err := errors.Join(serr, f.Close(), syncDir(dir)); err != nil {
			return false, fmt.Errorf("lost-disk marker: %s: %w", path, err)
		}
		return true, nil
	}
	switch _, err := os.Stat(path); {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("lost-disk marker: %w", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// lossTracker is the broker node as the loop drives it: once the broker has
// registered (its loss is known to the controller) it removes the marker.
type lossTracker struct {
	*broker.Node
	dir     string
	pending bool
	log     zerolog.Logger
}

func (t *lossTracker) Step(now sm.Time, ev sm.Event) error {
	err := t.Node.Step(now, ev)
	if t.pending && t.Node.LossReported() {
		t.pending = false
		path := filepath.Join(t.dir, lostDiskFile)
		if rerr := errors.Join(os.Remove(path), syncDir(t.dir)); rerr != nil {
			// The next start reports a lost disk again: harmless (the
			// broker rebuilds its replicas), so only say so.
			t.log.Warn().Err(rerr).Str("path", path).Msg("lost-disk marker not removed")
		} else {
			t.log.Info().Msg("lost disk reported to the controller")
		}
	}
	return err
}
