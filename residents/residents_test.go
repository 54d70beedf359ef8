package residents_test

import (
	"strings"
	"testing"

	"github.com/minato-city/anpi/residents"
)

func TestReadCSVKeepsGoodRowsAndReportsBadOnesByLine(t *testing.T) {
	in := strings.Join([]string{
		"id,name,language,area,line_user_id,phone,voice_phone,tags,household_id",
		"r1,佐藤 花子,ja,shiba,U" + strings.Repeat("a", 32) + ",+819012345678,,needs_support;staff,h1",
		"r2,Bad Area,en,shinjuku,,,,,",
		"r3,Bad Phone,en,azabu,,09012345678,,,",
		"r4,Too few,en",
		"r5,Bad LINE,ko,akasaka,U123,,,,",
		"r6,Bad tag,zh,takanawa,,+819011112222,,Needs Support,",
		`"r7","Quoted, name",ja-easy,shibaura-konan,,,+81312345678,,`,
		"",
		"r8,,,shiba,,,,,",
	}, "\n")
	var good []residents.Resident
	var bad []residents.RowError
	err := residents.ReadCSV(strings.NewReader(in), func(_ int, r residents.Resident) error {
		good = append(good, r)
		return nil
	}, func(e residents.RowError) { bad = append(bad, e) })
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range good {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "r1,r7,r8" {
		t.Fatalf("good rows %v", ids)
	}
	if good[0].Contacts.Phone != "+819012345678" || len(good[0].Tags) != 2 || good[2].Language != "ja" {
		t.Fatalf("parsed %+v / %+v", good[0], good[2])
	}
	want := map[int]string{3: "area", 4: "contacts.phone", 5: "", 6: "contacts.line_user_id", 7: "tags"}
	if len(bad) != len(want) {
		t.Fatalf("bad rows %+v", bad)
	}
	for _, b := range bad {
		f, ok := want[b.Row]
		if !ok || f != b.Field {
			t.Fatalf("bad row %+v not expected", b)
		}
		if strings.Contains(b.Reason, "0901234") {
			t.Fatalf("reason echoes the phone number: %q", b.Reason)
		}
	}
}

func TestReadCSVRejectsWrongHeader(t *testing.T) {
	err := residents.ReadCSV(strings.NewReader("id,name\nr1,x\n"), func(int, residents.Resident) error { return nil }, func(residents.RowError) {})
	if err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("err %v", err)
	}
}

func TestCheckFindsDuplicates(t *testing.T) {
	rs := []residents.Resident{{ID: "a", Area: "shiba"}, {ID: "a", Area: "azabu"}}
	bad := residents.Check(rs)
	if len(bad) != 1 || bad[0].Row != 1 || bad[0].Field != "id" {
		t.Fatalf("bad %+v", bad)
	}
}

func TestMaskPhone(t *testing.T) {
	if got := residents.MaskPhone("+819012345678"); got != "+81*******678" {
		t.Fatalf("mask %q", got)
	}
}
