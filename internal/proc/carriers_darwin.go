package proc

func findCarriers(prefix string, keys []string) ([]Carrier, error) { return nil, nil }
