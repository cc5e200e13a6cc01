enum SettleStoragePlaceholder {}
