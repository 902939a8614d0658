package memstore_test

import (
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
	"github.com/keyscope/apikey/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store { return memstore.New() })
}
