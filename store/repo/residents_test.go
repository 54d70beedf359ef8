package repo

import (
	"context"
	"testing"

	"github.com/minato-city/anpi/residents"
)

// TestResidentsMany looks people up in bulk by id and by LINE user id: lined
// up with the input, unknown and empty ids not found, and a stale LINE index
// entry (the resident's LINE id changed) not a match.
func TestResidentsMany(t *testing.T) {
	for _, tt := range commuterBackends {
		t.Run(tt.name, func(t *testing.T) {
			d := residents.NewDirectory(Residents{B: tt.backends(t)[0]})
			ctx := context.Background()
			rs := []residents.Resident{
				{ID: "r1", Language: "ja", Area: "shiba", Contacts: residents.Contacts{LINEUserID: "Uaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
				{ID: "r2", Language: "en", Area: "azabu", Contacts: residents.Contacts{LINEUserID: "Ubbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}},
				{ID: "r3", Language: "ja", Area: "azabu", Contacts: residents.Contacts{Phone: "+819011112222"}},
			}
			if bad, err := d.Put(ctx, rs); err != nil || bad != nil {
				t.Fatal(err, bad)
			}
			// r2 moves to another LINE account: the old index entry stays.
			moved := rs[1]
			moved.Contacts.LINEUserID = "Ucccccccccccccccccccccccccccccccc"
			if bad, err := d.Put(ctx, []residents.Resident{moved}); err != nil || bad != nil {
				t.Fatal(err, bad)
			}
			got, found, err := d.GetMany(ctx, []string{"r3", "nobody", "", "r1"})
			if err != nil || len(got) != 4 || len(found) != 4 {
				t.Fatalf("GetMany: %v, %v, %v", got, found, err)
			}
			if !found[0] || got[0].ID != "r3" || found[1] || found[2] || !found[3] || got[3].Area != "shiba" {
				t.Fatalf("GetMany = %+v, found %v", got, found)
			}
			got, found, err = d.ByLINEMany(ctx, []string{"Ucccccccccccccccccccccccccccccccc", "Ubbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "", "Uaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Unever"})
			if err != nil || len(got) != 5 {
				t.Fatalf("ByLINEMany: %v, %v", got, err)
			}
			want := []string{"r2", "", "", "r1", ""}
			for i, w := range want {
				if found[i] != (w != "") || got[i].ID != w {
					t.Errorf("ByLINEMany[%d] = %q found %v, want %q", i, got[i].ID, found[i], w)
				}
			}
		})
	}
}
