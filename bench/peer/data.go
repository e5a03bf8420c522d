package main

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// fleet is the data both sides are seeded with, generated once: company 0 is the big one (the director
// every client logs in as), the others share the rest of the reports.
type fleet struct {
	now       time.Time
	companies []kit.Company
	vehicles  []fleetVehicle
	reports   []fleetReport
}

type fleetVehicle struct {
	company                    int
	guid, vin, plate, contract string
	typ                        int // index into kit.VehicleTypes
}

type fleetReport struct {
	vehicle        int
	refKey, number string
	status         int
	start, finish  time.Time
	reason         string
}

// newFleet builds the companies of s (the first with s.Vehicles vehicles and s.Reports reports; each other
// one with s.OtherVehicles), s.Total reports in all. Statuses 1/2/3/4 at 10/10/70/10 % by a hash of the number, start
// dates spread over the last two years, as bench/seed.go does in SQL.
func newFleet(s kit.Sizes) *fleet {
	companies, vehicles, otherVehicles, reports, total := s.Companies, s.Vehicles, s.OtherVehicles, s.Reports, s.Total
	f := &fleet{now: time.Now().UTC().Truncate(time.Second)}
	for i := range companies {
		f.companies = append(f.companies, kit.SeedCompany(i))
	}
	addVehicles := func(company, n int) (first int) {
		first = len(f.vehicles)
		for range n {
			g := len(f.vehicles)
			f.vehicles = append(f.vehicles, fleetVehicle{
				company: company, guid: fmt.Sprintf("%08d-0000-4000-8000-%012d", company, g), vin: fmt.Sprintf("XWB%014d", g),
				plate:    fmt.Sprintf("%03d%c%c%c02", g%1000, 'A'+g%26, 'A'+(g/26)%26, 'A'+(g/676)%26),
				contract: fmt.Sprintf("№%d/24 (ДЛ)", g%700), typ: g % len(kit.VehicleTypes),
			})
		}
		return first
	}
	addVehicles(0, vehicles)
	for c := 1; c < companies; c++ {
		addVehicles(c, otherVehicles)
	}
	others := len(f.vehicles) - vehicles
	for g := range total {
		var v int
		if g < reports {
			v = g % vehicles
		} else {
			v = vehicles + (g-reports)%max(1, others)
		}
		h := (uint64(g) * 2654435761 >> 7) % 10
		status, reason := 3, ""
		switch h {
		case 0:
			status = 1
		case 1:
			status = 2
		case 9:
			status, reason = 4, "Не виден VIN-код"
		}
		start := f.now.Add(-time.Duration((int64(g)*40503)%(730*86400)) * time.Second)
		f.reports = append(f.reports, fleetReport{
			vehicle: v, refKey: fmt.Sprintf("00000000-0000-4000-9000-%012d", g), number: fmt.Sprintf("ОС-%08d", g),
			status: status, start: start, finish: start.Add(10 * 24 * time.Hour), reason: reason,
		})
	}
	return f
}

// waiting returns the big company's reports still waiting for a video (status 1), newest last.
func (f *fleet) waiting(n int) []int {
	var out []int
	for i, r := range f.reports {
		if f.vehicles[r.vehicle].company == 0 && r.status == 1 {
			out = append(out, i)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// batch gathers rows into multi-row INSERTs of up to 500 rows.
type batch struct {
	tx    *sql.Tx
	head  string
	width int
	style string // "?" (SQLite) or "$" (numbered, both drivers)
	args  []any
	rows  int
}

func newBatch(tx *sql.Tx, head string, width int, style string) *batch {
	return &batch{tx: tx, head: head, width: width, style: style}
}

func (b *batch) add(values ...any) error {
	if len(values) != b.width {
		return fmt.Errorf("batch: %d values for %d columns", len(values), b.width)
	}
	b.args = append(b.args, values...)
	b.rows++
	if b.rows == 500 {
		return b.flush()
	}
	return nil
}

func (b *batch) flush() error {
	if b.rows == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(b.head)
	n := 0
	for r := range b.rows {
		if r > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range b.width {
			if c > 0 {
				q.WriteByte(',')
			}
			n++
			if b.style == "?" {
				q.WriteByte('?')
			} else {
				fmt.Fprintf(&q, "$%d", n)
			}
		}
		q.WriteByte(')')
	}
	_, err := b.tx.Exec(q.String(), b.args...)
	b.args, b.rows = b.args[:0], 0
	return err
}

// withoutIndexes drops the SQLite indexes of tables inside tx and returns what builds them again: one
// sort per index after a bulk insert costs a fraction of keeping five indexes up to date row by row.
func withoutIndexes(tx *sql.Tx, tables ...string) (rebuild func() error, err error) {
	q := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('` +
		strings.Join(tables, "','") + `')`
	rows, err := tx.Query(q)
	if err != nil {
		return nil, err
	}
	var names, ddl []string
	for rows.Next() {
		var n, s string
		if err := rows.Scan(&n, &s); err != nil {
			rows.Close()
			return nil, err
		}
		names, ddl = append(names, n), append(ddl, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := tx.Exec(`DROP INDEX "` + n + `"`); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, s := range ddl {
			if _, err := tx.Exec(s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}, nil
}
