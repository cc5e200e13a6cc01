/// The card-processor simulator's payment-method tokens (DESIGN.md "The card-processor
/// simulator"); each decides how the simulator answers a charge.
public enum PaymentMethod: String, Sendable, CaseIterable, Codable {
    case ok = "pm_card_ok"
    case declined = "pm_card_declined"
    case insufficientFunds = "pm_card_insufficient_funds"
    case flaky = "pm_card_flaky"
    case slow = "pm_card_slow"
    case down = "pm_card_down"
    case poison = "pm_card_poison"
}
