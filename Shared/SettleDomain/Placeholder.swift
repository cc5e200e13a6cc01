enum SettleDomainPlaceholder {}
