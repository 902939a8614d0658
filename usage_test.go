package apikey_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordUses makes store keep every batch of uses the Manager marks, and
// returns a function that returns the uses marked since its last call.
func recordUses(store *apikeytest.FaultStore) func() []apikey.Use {
	var (
		mu   sync.Mutex
		uses []apikey.Use
	)
	store.FailWhen(apikeytest.MethodMarkUsed, func(c apikeytest.Call) error {
		mu.Lock()
		defer mu.Unlock()
		uses = append(uses, c.Uses...)
		return nil
	})
	return func() []apikey.Use {
		mu.Lock()
		defer mu.Unlock()
		taken := uses
		uses = nil
		return taken
	}
}

func TestUsageWritesAtMostOncePerKeyPerInterval(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now, UsageInterval: time.Minute})
	marked := recordUses(store)
	ctx := context.Background()
	a, atok := create(t, m, apikey.CreateParams{})
	b, btok := create(t, m, apikey.CreateParams{})
	verifyN := func(tok string, n int) {
		for range n {
			_, err := m.Verify(ctx, tok)
			require.NoError(t, err)
		}
	}
	flush := func() []apikey.Use {
		require.NoError(t, m.Flush(ctx))
		return marked()
	}

	verifyN(atok, 100)
	clk.Add(time.Second)
	verifyN(atok, 100)
	verifyN(btok, 3)
	assert.Len(t, flush(), 2, "first flush: one use per key")
	assert.Equal(t, 1, store.Calls(apikeytest.MethodMarkUsed), "MarkUsed calls of the first flush")
	got, err := m.Get(ctx, a.ID)
	require.NoError(t, err)
	assert.False(t, got.LastUsedAt.IsZero(), "LastUsedAt after the first flush")
	assert.Less(t, clk.Now().Sub(got.LastUsedAt), time.Minute, "LastUsedAt %v must be within the interval before %v", got.LastUsedAt, clk.Now())

	clk.Add(30 * time.Second) // within the interval of the recorded use
	verifyN(atok, 50)
	assert.Empty(t, flush(), "uses within the interval written")

	clk.Add(31 * time.Second) // a minute after the recorded use
	verifyN(atok, 50)
	uses := flush()
	if assert.Len(t, uses, 1, "uses after the interval") {
		assert.Equal(t, a.ID, uses[0].ID, "key of the use after the interval")
	}
	require.NoError(t, m.Delete(ctx, b.ID))
	assert.NoError(t, m.Flush(ctx), "Flush with nothing pending")
}

func TestCloseFlushesPendingUse(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now})
	k, tok := create(t, m, apikey.CreateParams{})
	verify(t, m, tok, nil)
	require.NoError(t, m.Close())
	assert.NoError(t, m.Close(), "second Close")
	got, err := store.Unwrap().Get(context.Background(), k.ID)
	require.NoError(t, err)
	assert.Equal(t, clk.Now(), got.LastUsedAt, "LastUsedAt after Close")
	verify(t, m, tok, nil) // keys still verify after Close
}

func TestUsageTrackingDisabled(t *testing.T) {
	m, store := newManager(t, apikey.Options{UsageInterval: -1})
	_, tok := create(t, m, apikey.CreateParams{})
	verify(t, m, tok, nil)
	require.NoError(t, m.Close())
	assert.Zero(t, store.Calls(apikeytest.MethodMarkUsed), "MarkUsed calls with tracking disabled")
}

func TestUsageRecordsEveryKeyDespiteFilterCollisions(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now})
	marked := recordUses(store)
	ctx := context.Background()
	const n = 3000 // more keys than the pending filter has slots
	toks := make([]string, n)
	for i := range toks {
		_, toks[i] = create(t, m, apikey.CreateParams{})
	}
	for range 2 {
		for _, tok := range toks {
			_, err := m.Verify(ctx, tok)
			require.NoError(t, err)
		}
	}
	require.NoError(t, m.Flush(ctx))
	ks, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	for _, k := range ks {
		if !assert.False(t, k.LastUsedAt.IsZero(), "key %s was verified but has no LastUsedAt", k.ID) {
			break // one is enough to report
		}
	}
	assert.Equal(t, n, len(marked()), "uses the flush wrote for %d keys", n)
}

func TestFailedFlushIsRetried(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	verify(t, m, tok, nil)
	errFull := errors.New("disk full")
	store.Fail(apikeytest.MethodMarkUsed, errFull)
	assert.ErrorIs(t, m.Flush(ctx), errFull, "Flush with a failing store")
	store.Fail(apikeytest.MethodMarkUsed, nil)
	require.NoError(t, m.Flush(ctx))
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, clk.Now(), got.LastUsedAt, "LastUsedAt after the retried flush")
}
