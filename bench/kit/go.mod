module github.com/forteleasing/inspections/bench/kit

go 1.26.8
