package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// The PocketBase side: this same binary, run as `peer pbsetup DIR` (schema, data, users) and then
// `peer pbserve DIR ADDR` (PocketBase's own serve command), so that PocketBase runs in a process of its
// own whose CPU and RSS are its alone. Everything is PocketBase v0.36.8 as a small team would start it:
// pocketbase.NewWithConfig, collections with rules, its default settings (request logs included).

const (
	pbSuperEmail = "bench@peer.local"
	pbUserEmail  = "director@peer.local"
	pbPassword   = "bench-peer-password-1"
	pbCompanyFmt = "c%014d"
	pbVehicleFmt = "v%014d"
	pbReportFmt  = "r%014d"
)

func newPB(dir string) *pocketbase.PocketBase {
	return pocketbase.NewWithConfig(pocketbase.Config{DefaultDataDir: dir, HideStartBanner: true})
}

// pbServe runs PocketBase's serve command on addr.
func pbServe(dir, addr string) error {
	os.Args = []string{os.Args[0], "serve", "--http", addr, "--dir", dir}
	return newPB(dir).Start()
}

// pbSetup creates the collections, loads the fleet with plain SQL (as bulk inserts; PocketBase's record
// API would take an hour) and creates the director and a superuser through PocketBase's API.
// s3 is "" (local files) or the MinIO URL for the videos.
func pbSetup(dir, s3 string, f *fleet) error {
	app := newPB(dir)
	if err := app.Bootstrap(); err != nil {
		return err
	}
	defer app.ResetBootstrapState()
	if err := app.RunAllMigrations(); err != nil {
		return err
	}
	rule := types.Pointer("company = @request.auth.company")
	autodates := func(c *core.Collection) {
		c.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true}, &core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
	}
	companies := core.NewBaseCollection("companies")
	companies.Fields.Add(&core.TextField{Name: "biin"}, &core.TextField{Name: "name"})
	autodates(companies)
	companies.ViewRule = types.Pointer("id = @request.auth.company")
	if err := app.Save(companies); err != nil {
		return fmt.Errorf("companies: %w", err)
	}
	vehicles := core.NewBaseCollection("vehicles")
	vehicles.Fields.Add(&core.RelationField{Name: "company", CollectionId: companies.Id, MaxSelect: 1, Required: true},
		&core.TextField{Name: "guid"}, &core.TextField{Name: "vin"}, &core.TextField{Name: "plate"},
		&core.TextField{Name: "contract"}, &core.NumberField{Name: "type"})
	autodates(vehicles)
	vehicles.ListRule, vehicles.ViewRule = rule, rule
	// The same indexes the service has for its lists (migrations 00002, 00006).
	vehicles.AddIndex("idx_vehicles_company_plate", false, "company, plate, guid", "")
	vehicles.AddIndex("idx_vehicles_guid", true, "guid", "")
	if err := app.Save(vehicles); err != nil {
		return fmt.Errorf("vehicles: %w", err)
	}
	reports := core.NewBaseCollection("reports")
	reports.Fields.Add(&core.RelationField{Name: "company", CollectionId: companies.Id, MaxSelect: 1, Required: true},
		&core.RelationField{Name: "vehicle", CollectionId: vehicles.Id, MaxSelect: 1, Required: true},
		&core.TextField{Name: "ref_key"}, &core.TextField{Name: "number"}, &core.TextField{Name: "contract"},
		&core.NumberField{Name: "status", OnlyInt: true}, &core.DateField{Name: "date_start"}, &core.DateField{Name: "date_finish"},
		&core.TextField{Name: "reject_reason"})
	autodates(reports)
	reports.ListRule, reports.ViewRule = rule, rule
	reports.AddIndex("idx_reports_ref_key", true, "ref_key", "")
	reports.AddIndex("idx_reports_company_start", false, "company, date_start DESC", "")
	reports.AddIndex("idx_reports_company_status_start", false, "company, status, date_start DESC", "")
	reports.AddIndex("idx_reports_vehicle_start", false, "vehicle, date_start DESC", "")
	if err := app.Save(reports); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	videos := core.NewBaseCollection("videos")
	videos.Fields.Add(&core.RelationField{Name: "report", CollectionId: reports.Id, MaxSelect: 1, Required: true},
		&core.FileField{Name: "video", MaxSelect: 1, MaxSize: 200 << 20, MimeTypes: []string{"video/mp4"}})
	autodates(videos)
	// As the service: only the report's own company may upload to it.
	videos.CreateRule = types.Pointer("@request.auth.id != '' && report.company = @request.auth.company")
	if err := app.Save(videos); err != nil {
		return fmt.Errorf("videos: %w", err)
	}
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	users.Fields.Add(&core.RelationField{Name: "company", CollectionId: companies.Id, MaxSelect: 1})
	if err := app.Save(users); err != nil {
		return fmt.Errorf("users: %w", err)
	}

	db, ok := app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		return errors.New("pocketbase: no *dbx.DB")
	}
	if err := pbLoad(db.DB(), f); err != nil {
		return err
	}

	su, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return err
	}
	s := core.NewRecord(su)
	s.SetEmail(pbSuperEmail)
	s.SetPassword(pbPassword)
	if err := app.Save(s); err != nil {
		return fmt.Errorf("superuser: %w", err)
	}
	u := core.NewRecord(users)
	u.SetEmail(pbUserEmail)
	u.SetPassword(pbPassword)
	u.SetVerified(true)
	u.Set("name", "Директор Бенч-000")
	u.Set("company", fmt.Sprintf(pbCompanyFmt, 0))
	if err := app.Save(u); err != nil {
		return fmt.Errorf("user: %w", err)
	}

	if s3 != "" {
		u, err := url.Parse(s3)
		if err != nil || u.User == nil {
			return errors.New("bad -s3 URL")
		}
		secret, _ := u.User.Password()
		settings := app.Settings()
		settings.S3.Enabled = true
		settings.S3.Bucket = strings.Trim(u.Path, "/")
		settings.S3.Region = "us-east-1"
		settings.S3.Endpoint = "http://" + u.Host
		settings.S3.AccessKey = u.User.Username()
		settings.S3.Secret = secret
		settings.S3.ForcePathStyle = true
		if err := app.Save(settings); err != nil {
			return fmt.Errorf("s3 settings: %w", err)
		}
	}
	return nil
}

const pbTime = "2006-01-02 15:04:05.000Z"

// pbLoad inserts the fleet into PocketBase's tables in one transaction.
func pbLoad(db *sql.DB, f *fleet) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A big page cache for the random index inserts, as for the service (svc.seedSQL).
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit
	rebuild, err := withoutIndexes(tx, "companies", "vehicles", "reports")
	if err != nil {
		return err
	}
	now := f.now.UTC().Format(pbTime)
	b := newBatch(tx, "INSERT INTO companies (id, biin, name, created, updated) VALUES ", 5, "?")
	for i, c := range f.companies {
		if err := b.add(fmt.Sprintf(pbCompanyFmt, i), c.BIIN, c.Name, now, now); err != nil {
			return err
		}
	}
	if err := b.flush(); err != nil {
		return err
	}
	b = newBatch(tx, "INSERT INTO vehicles (id, company, guid, vin, plate, contract, type, created, updated) VALUES ", 9, "?")
	for i, v := range f.vehicles {
		if err := b.add(fmt.Sprintf(pbVehicleFmt, i), fmt.Sprintf(pbCompanyFmt, v.company), v.guid, v.vin, v.plate, v.contract, v.typ, now, now); err != nil {
			return err
		}
	}
	if err := b.flush(); err != nil {
		return err
	}
	b = newBatch(tx, "INSERT INTO reports (id, company, vehicle, ref_key, number, contract, status, date_start, date_finish, reject_reason, created, updated) VALUES ", 12, "?")
	for i, r := range f.reports {
		v := f.vehicles[r.vehicle]
		start := r.start.UTC().Format(pbTime)
		if err := b.add(fmt.Sprintf(pbReportFmt, i), fmt.Sprintf(pbCompanyFmt, v.company), fmt.Sprintf(pbVehicleFmt, r.vehicle),
			r.refKey, r.number, v.contract, r.status, start, r.finish.UTC().Format(pbTime), r.reason, start, start); err != nil {
			return err
		}
	}
	if err := b.flush(); err != nil {
		return err
	}
	if err := rebuild(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "ANALYZE")
	return err
}
