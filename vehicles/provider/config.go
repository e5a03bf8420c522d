package provider

import "github.com/forteleasing/inspections/internal/config"

// Each client's configuration is read from the environment by internal/config.
type (
	OkpockConfig   = config.Okpock
	RegnumConfig   = config.Regnum
	VAGVINConfig   = config.VAGVIN
	OdometerConfig = config.Odometer
)
