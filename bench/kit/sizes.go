package kit

import "flag"

// Sizes are the seeded data's: the big company (the first) has Vehicles vehicles and Reports reports; each
// other company has OtherVehicles vehicles, and they share the rest of Total.
type Sizes struct {
	Companies, Vehicles, OtherVehicles, Reports, Total int
}

// Flags registers -companies, -vehicles, -other-vehicles, -reports and -total on fs, with s's values as
// their defaults.
func (s *Sizes) Flags(fs *flag.FlagSet) {
	fs.IntVar(&s.Companies, "companies", s.Companies, "companies; the first is the big one")
	fs.IntVar(&s.Vehicles, "vehicles", s.Vehicles, "vehicles of the big company")
	fs.IntVar(&s.OtherVehicles, "other-vehicles", s.OtherVehicles, "vehicles of each other company")
	fs.IntVar(&s.Reports, "reports", s.Reports, "reports of the big company")
	fs.IntVar(&s.Total, "total", s.Total, "reports of all companies")
}
