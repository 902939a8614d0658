package sqlitestore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashChildEnv, when set, makes TestCrash the writing child process, and
// holds the database path.
const crashChildEnv = "KEYSCOPE_SQLITESTORE_CRASH_CHILD"

// The child's work is a deterministic sequence, so the parent knows what
// every write would have stored:
//
//   - key i is created with crashRecord(i), and "C i" printed;
//   - after key i with i%4 == 3, keys i-3 to i are marked used at
//     crashUseTime(i) in one MarkUsed batch, and "M i" printed;
//   - after key i with i%7 == 6, key i-2 is deactivated and relabelled in
//     one Update, and "U i" printed.
//
// A line is printed only once its write has returned, so every printed
// write must survive the kill.
const crashMaxKeys = 1 << 20

func crashRecord(i int) apikey.Key {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[:8], uint64(i)) // IDs sort by i
	binary.BigEndian.PutUint64(id[8:], 0x7e57c0de)
	sum := sha256.Sum256(id[:])
	d, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, sum[:]...))
	if err != nil {
		panic(err)
	}
	scopes := apikey.FullAccess()
	if i%2 == 1 {
		scopes, _ = apikey.ParseScopes("campaigns:read,lists:write")
	}
	k := apikey.Key{
		ID: id,
		// Sizes from a few bytes to more than a page, so that some records
		// spill onto overflow pages.
		Label:     fmt.Sprintf("crash key %d %s", i, strings.Repeat("~", (i*997)%6000)),
		Scopes:    scopes,
		Active:    true,
		CreatedAt: time.UnixMicro(1_800_000_000_000_000 + int64(i)).UTC(),
		Hint:      fmt.Sprintf("sk_…%04d", i%10000),
		Digest:    d,
	}
	if i%3 == 0 {
		k.ExpiresAt = k.CreatedAt.Add(time.Duration(i) * time.Hour)
	}
	if i > 0 {
		k.ClonedFrom = crashRecord(0).ID
	}
	return k
}

func crashUseTime(i int) time.Time { return time.UnixMicro(1_900_000_000_000_000 + int64(i)).UTC() }

func crashUpdated(k apikey.Key) apikey.Key {
	k.Label += " (updated)"
	k.Active = false
	return k
}

// crashChild writes forever (until killed) to the database at path.
func crashChild(path string) {
	ctx := context.Background()
	s, err := sqlitestore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	say := func(op string, i int) {
		if _, err := fmt.Fprintf(os.Stdout, "%s %d\n", op, i); err != nil {
			os.Exit(3) // the parent is gone
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range crashMaxKeys {
		if err := s.Create(ctx, crashRecord(i)); err != nil {
			fail(err)
		}
		say("C", i)
		if i%4 == 3 {
			var uses []apikey.Use
			for j := i - 3; j <= i; j++ {
				uses = append(uses, apikey.Use{ID: crashRecord(j).ID, At: crashUseTime(i)})
			}
			if err := s.MarkUsed(ctx, uses); err != nil {
				fail(err)
			}
			say("M", i)
		}
		if i%7 == 6 {
			u := crashUpdated(crashRecord(i - 2))
			if _, err := s.Update(ctx, u.ID, apikey.Update{Label: &u.Label, Active: &u.Active}); err != nil {
				fail(err)
			}
			say("U", i)
		}
	}
	os.Exit(4) // never killed
}

// TestCrash runs a child process that writes keys in a loop, kills it with
// SIGKILL at a random point, and checks the database it leaves: intact,
// holding every write the child reported, and nothing half-written.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	const rounds = 20
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		// Kill after the child has reported somewhere between 1 and 400
		// writes; it keeps writing while the parent reads, so the kill
		// lands at an arbitrary point of whatever it is doing.
		after := 1 + rng.IntN(400)
		t.Run(fmt.Sprintf("round %d after %d writes", round, after), func(t *testing.T) {
			crashRound(t, after)
		})
	}
}

func crashRound(t *testing.T, after int) {
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err, "StdoutPipe")
	require.NoError(t, cmd.Start(), "starting the child")
	reported := map[string]int{"C": -1, "M": -1, "U": -1} // last index of each
	lines := 0
	read := func(sc *bufio.Scanner) {
		for sc.Scan() {
			op, num, ok := strings.Cut(sc.Text(), " ")
			i, err := strconv.Atoi(num)
			if _, known := reported[op]; !ok || err != nil || !known {
				continue // not ours
			}
			reported[op] = i
			if lines++; lines == after {
				return
			}
		}
	}
	sc := bufio.NewScanner(out)
	read(sc)
	require.NoError(t, cmd.Process.Kill(), "killing the child")
	read(sc) // lines the child wrote before it died were acknowledged too
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must die by the signal\n%s", stderr.String())
	require.Equal(t, -1, exit.ExitCode(), "the child must die by the signal\n%s", stderr.String())
	require.GreaterOrEqual(t, lines, after, "writes the child reported before dying\n%s", stderr.String())

	// Integrity first, on a plain handle: opening recovers the WAL.
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	var integrity string
	err = db.QueryRow("PRAGMA integrity_check").Scan(&integrity)
	db.Close()
	require.NoError(t, err, "PRAGMA integrity_check")
	require.Equal(t, "ok", integrity, "PRAGMA integrity_check")

	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "reopening after the crash")
	defer s.Close()
	ks, err := s.List(context.Background(), apikey.ListOptions{})
	require.NoError(t, err, "List after the crash")
	// Keys 0..n-1 are present, and n is what was reported, or one more if
	// the kill came between a Create and its line.
	n := len(ks)
	assert.GreaterOrEqual(t, n, reported["C"]+1, "keys after the crash, against the creations the child reported")
	assert.LessOrEqual(t, n, reported["C"]+2, "keys after the crash, against the creations the child reported")
	byIndex := make([]apikey.Key, n)
	for i, k := range ks {
		byIndex[n-1-i] = k // List is newest first
	}
	for i, got := range byIndex {
		want := crashRecord(i)
		require.Equal(t, want.ID.String(), got.ID.String(), "ID of key %d: the keys must be a prefix of the sequence", i)
		// The update of key i is made after key i+2 is created.
		if upd := i + 2; upd%7 == 6 && upd < n {
			applied := got.Label == crashUpdated(want).Label
			switch {
			case applied && got.Active:
				assert.Fail(t, "update half applied: label changed, still active", "key %d", i)
			case !applied && !got.Active:
				assert.Fail(t, "update half applied: deactivated, label unchanged", "key %d", i)
			case !applied && reported["U"] >= upd:
				assert.Fail(t, "reported update lost", "key %d", i)
			}
			if applied {
				want = crashUpdated(want)
			}
		}
		// Batch b marks keys 4b to 4b+3, after key 4b+3 is created.
		last := i/4*4 + 3
		if last < n {
			at := crashUseTime(last)
			switch {
			case got.LastUsedAt.Equal(at):
				want.LastUsedAt = at
			case !got.LastUsedAt.IsZero():
				assert.Fail(t, fmt.Sprintf("LastUsedAt %v, want zero or %v", got.LastUsedAt, at), "key %d", i)
			case reported["M"] >= last:
				assert.Fail(t, "reported MarkUsed batch lost", "key %d", i)
			}
			first := byIndex[i/4*4]
			assert.WithinDuration(t, first.LastUsedAt, got.LastUsedAt, 0,
				"MarkUsed batch ending at key %d half applied: LastUsedAt of key %d against key %d", last, i, i/4*4)
		}
		assert.Empty(t, storetest.Diff(got, want), "key %d after the crash", i)
	}
}
