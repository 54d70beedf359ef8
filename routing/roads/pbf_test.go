package roads

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmxml"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestLoadPBF writes the XML fixture as an .osm.pbf file (the format of
// Geofabrik's extracts) and loads it through osmpbf: the graph must be the
// same as the one read from XML. paulmach/osm only reads PBF, so the file
// is written here by hand (writePBF), following the OSM PBF format
// (fileformat.proto, osmformat.proto): zlib-compressed blobs, dense nodes,
// ways with delta-coded refs.
func TestLoadPBF(t *testing.T) {
	data, err := os.ReadFile("testdata/grid.osm")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*osm.Node
	var ways []*osm.Way
	s := osmxml.New(context.Background(), bytes.NewReader(data))
	for s.Scan() {
		switch o := s.Object().(type) {
		case *osm.Node:
			nodes = append(nodes, o)
		case *osm.Way:
			ways = append(ways, o)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "grid.osm.pbf")
	if err := os.WriteFile(path, writePBF(t, nodes, ways), 0o644); err != nil {
		t.Fatal(err)
	}
	fromPBF, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fromXML := loadFixture(t)
	if fromPBF.Nodes() != fromXML.Nodes() || fromPBF.Edges() != fromXML.Edges() ||
		fromPBF.Components() != fromXML.Components() || fromPBF.Ways() != fromXML.Ways() {
		t.Fatalf("pbf: %d nodes %d edges %d components %d ways; xml: %d %d %d %d",
			fromPBF.Nodes(), fromPBF.Edges(), fromPBF.Components(), fromPBF.Ways(),
			fromXML.Nodes(), fromXML.Edges(), fromXML.Components(), fromXML.Ways())
	}
	for a := range int32(fromXML.Nodes()) {
		for b := range int32(fromXML.Nodes()) {
			la, lo := fromXML.Position(a)
			lb, lob := fromXML.Position(b)
			want, wok := fromXML.DistanceM(la, lo, lb, lob, 1)
			got, gok := fromPBF.DistanceM(la, lo, lb, lob, 1)
			if wok != gok || math.Abs(got-want) > 1e-6 {
				t.Fatalf("%v,%v → %v,%v: pbf %v %v, xml %v %v", la, lo, lb, lob, got, gok, want, wok)
			}
		}
	}
	// The crossing east is still the long way round.
	la, lo := gridPos(0, 0)
	lb, lob := gridPos(3, 0)
	if d, ok := fromPBF.DistanceM(la, lo, lb, lob, 1); !ok || d < 900 {
		t.Errorf("pbf east across the river: %v %v", d, ok)
	}
}

// writePBF encodes nodes and ways as an OSM PBF file: an OSMHeader blob,
// then one OSMData blob with a dense-nodes group and a ways group.
func writePBF(t *testing.T, nodes []*osm.Node, ways []*osm.Way) []byte {
	t.Helper()
	var file bytes.Buffer
	writeBlob := func(kind string, block []byte) {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(block)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		var blob []byte
		blob = protowire.AppendTag(blob, 2, protowire.VarintType) // raw_size
		blob = protowire.AppendVarint(blob, uint64(len(block)))
		blob = protowire.AppendTag(blob, 3, protowire.BytesType) // zlib_data
		blob = protowire.AppendBytes(blob, z.Bytes())
		var hdr []byte
		hdr = protowire.AppendTag(hdr, 1, protowire.BytesType) // type
		hdr = protowire.AppendString(hdr, kind)
		hdr = protowire.AppendTag(hdr, 3, protowire.VarintType) // datasize
		hdr = protowire.AppendVarint(hdr, uint64(len(blob)))
		binary.Write(&file, binary.BigEndian, int32(len(hdr)))
		file.Write(hdr)
		file.Write(blob)
	}
	// HeaderBlock: required_features (4).
	var header []byte
	for _, f := range []string{"OsmSchema-V0.6", "DenseNodes"} {
		header = protowire.AppendTag(header, 4, protowire.BytesType)
		header = protowire.AppendString(header, f)
	}
	writeBlob("OSMHeader", header)

	// String table: index 0 is the empty string by convention.
	strs := []string{""}
	index := map[string]uint64{"": 0}
	str := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(strs))
			index[s] = i
			strs = append(strs, s)
		}
		return i
	}
	packed := func(b []byte, field protowire.Number, vs []uint64) []byte {
		var p []byte
		for _, v := range vs {
			p = protowire.AppendVarint(p, v)
		}
		b = protowire.AppendTag(b, field, protowire.BytesType)
		return protowire.AppendBytes(b, p)
	}
	deltas := func(vs []int64) []uint64 {
		out := make([]uint64, len(vs))
		prev := int64(0)
		for i, v := range vs {
			out[i] = protowire.EncodeZigZag(v - prev)
			prev = v
		}
		return out
	}
	// DenseNodes: ids (1), lats (8), lons (9) delta-coded sint64 in units
	// of the default granularity, 100 nanodegrees.
	var ids, lats, lons []int64
	for _, n := range nodes {
		ids = append(ids, int64(n.ID))
		lats = append(lats, int64(math.Round(n.Lat*1e7)))
		lons = append(lons, int64(math.Round(n.Lon*1e7)))
	}
	var dense []byte
	dense = packed(dense, 1, deltas(ids))
	dense = packed(dense, 8, deltas(lats))
	dense = packed(dense, 9, deltas(lons))
	var nodeGroup []byte
	nodeGroup = protowire.AppendTag(nodeGroup, 2, protowire.BytesType)
	nodeGroup = protowire.AppendBytes(nodeGroup, dense)
	// Ways: id (1), keys (2), vals (3) as string-table indexes, refs (8)
	// delta-coded sint64.
	var wayGroup []byte
	for _, w := range ways {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(w.ID))
		var keys, vals []uint64
		for _, tag := range w.Tags {
			keys, vals = append(keys, str(tag.Key)), append(vals, str(tag.Value))
		}
		m = packed(m, 2, keys)
		m = packed(m, 3, vals)
		var refs []int64
		for _, n := range w.Nodes {
			refs = append(refs, int64(n.ID))
		}
		m = packed(m, 8, deltas(refs))
		wayGroup = protowire.AppendTag(wayGroup, 3, protowire.BytesType)
		wayGroup = protowire.AppendBytes(wayGroup, m)
	}
	// PrimitiveBlock: stringtable (1), primitivegroup (2)...
	var st []byte
	for _, s := range strs {
		st = protowire.AppendTag(st, 1, protowire.BytesType)
		st = protowire.AppendString(st, s)
	}
	var block []byte
	block = protowire.AppendTag(block, 1, protowire.BytesType)
	block = protowire.AppendBytes(block, st)
	for _, grp := range [][]byte{nodeGroup, wayGroup} {
		block = protowire.AppendTag(block, 2, protowire.BytesType)
		block = protowire.AppendBytes(block, grp)
	}
	writeBlob("OSMData", block)
	return file.Bytes()
}
