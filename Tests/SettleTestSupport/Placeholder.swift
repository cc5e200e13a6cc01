enum SettleTestSupportPlaceholder {}
